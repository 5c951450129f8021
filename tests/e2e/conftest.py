"""Browser tests: a real ``sigil serve`` on localhost, Debian's Chromium driven by Playwright.

The browser is the system's ``/usr/bin/chromium`` (``.ci/run`` installs it); Playwright never downloads one.
WebAuthn needs a secure context and an RP ID that is a domain, so pages are opened on ``http://localhost``.
"""

from __future__ import annotations

import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.browser import CHROMIUM, CHROMIUM_ARGS, Console
from support.server import ServerProcess, free_port

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TIMEOUT_MS = 20_000


@pytest.fixture(scope="session")
def web_server() -> Iterator[ServerProcess]:
    """A server with open registration whose WebAuthn relying party is ``localhost`` on its own port."""
    port = free_port()
    proc = ServerProcess(
        port=port,
        env={
            "SIGIL_OPEN_REGISTRATION": "1",
            "SIGIL_RP_ID": "localhost",
            "SIGIL_WEBAUTHN_ORIGINS": f"http://localhost:{port}",
        },
    ).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def origin(web_server: ServerProcess) -> str:
    return f"http://localhost:{web_server.port}"


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Any) -> Iterator[Any]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def context(browser: Any, origin: str) -> Iterator[Any]:
    """A fresh browser profile (its own IndexedDB and sessionStorage) for each test."""
    context = browser.new_context(base_url=origin)
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def console(context: Any, origin: str, request: pytest.FixtureRequest) -> Iterator[Console]:
    shots_dir = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    shutil.rmtree(shots_dir, ignore_errors=True)
    shots_dir.mkdir(parents=True)
    page = context.new_page()
    ui = Console(page=page, origin=origin, shots_dir=shots_dir)
    page.on("pageerror", lambda exc: ui.errors.append(str(exc)))
    yield ui
    assert not ui.errors, f"uncaught errors in the page: {ui.errors}"
    for path in ui.shots:
        assert path.is_file() and path.stat().st_size > 0, path


@pytest.fixture
def authenticator(context: Any, console: Console) -> dict[str, Any]:
    """A CTAP2 platform authenticator over CDP: resident keys, user verification, always verified."""
    cdp = context.new_cdp_session(console.page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    return {"cdp": cdp, "id": added["authenticatorId"]}


@pytest.fixture
def user() -> str:
    return "e2e-" + secrets.token_hex(5)
