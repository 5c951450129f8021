"""The node's audit relay: wire format, batching into the chain, flush barrier, fallback."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from sigil.store.audit import AuditEvent, batch_event
from sigil.store.audit_relay import RelayClient, decode, encode, run_relay


def _events() -> list[AuditEvent]:
    single = AuditEvent("alice", "sign", key_id="key_a", version=2, message_sha256="ab" * 32)
    batch = batch_event("bob", "sign", [bytes([i]) * 32 for i in range(3)], key_id="key_b", version=1)
    return [single, batch]


def test_encode_decode_round_trip() -> None:
    events = _events()
    frame = encode(events)
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    assert decode(frame[4:]) == events


class Sink:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []
        self.calls = 0

    def __call__(self, events: Sequence[AuditEvent]) -> None:
        self.calls += 1
        self.events.extend(events)


@pytest.fixture
def relay(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A relay on a real Unix socket, in a thread (its parent is this process)."""
    sink = Sink()
    path = tmp_path / "audit.sock"
    stop = threading.Event()
    thread = threading.Thread(target=_run_until, args=(path, sink, stop), daemon=True)
    thread.start()
    for _ in range(100):
        if path.exists():
            break
        time.sleep(0.01)
    yield path, sink, stop
    stop.set()
    thread.join(5)


def _run_until(path: Path, sink: Sink, stop: threading.Event) -> None:
    run_relay(path, sink, stop.is_set)


def test_events_reach_the_sink_and_barrier_waits_for_them(relay) -> None:  # type: ignore[no-untyped-def]
    path, sink, _stop = relay
    direct = Sink()
    client = RelayClient(str(path), direct)
    events = _events()
    client.send(events)
    client.send(events[:1])
    client.barrier()  # returns only once the relay has written both batches
    assert sink.events == [*events, events[0]]
    assert direct.events == []
    client.close()


def test_unreachable_relay_falls_back_to_direct_writes(tmp_path: Path) -> None:
    direct = Sink()
    client = RelayClient(str(tmp_path / "nobody-listens.sock"), direct)
    events = _events()
    client.send(events)
    assert direct.events == events
    client.barrier()  # nothing to wait for, and no error


def test_relay_writes_what_was_sent_before_it_stops(relay) -> None:  # type: ignore[no-untyped-def]
    path, sink, stop = relay
    client = RelayClient(str(path), Sink())
    events = _events()
    client.send(events)
    stop.set()  # the relay keeps reading until this client disconnects
    time.sleep(0.3)
    client.send(events[:1])
    client.close()
    for _ in range(300):
        if len(sink.events) == 3:
            break
        time.sleep(0.01)
    assert sink.events == [*events, events[0]]
