"""Helpers for the browser tests (tests/e2e): Debian's Chromium, the login page as a person uses it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Console:
    """The login page in one browser context, with the steps a person takes and a screenshot per step."""

    page: Any
    origin: str
    shots_dir: Path
    shots: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def open(self) -> None:
        self.page.goto(self.origin + "/")
        self.page.wait_for_selector("body[data-ready=true]")

    def mode(self, mode: str) -> None:
        self.page.check(f"#mode-{mode}")

    def fill_user(self, user: str) -> None:
        self.page.fill("#user", user)

    def click(self, button: str) -> None:
        self.page.click(f"#{button}")

    def wait_status(self) -> tuple[str, str]:
        """Wait for the current action to finish: (``ok`` | ``error``, the message shown)."""
        self.page.wait_for_function(
            "() => ['ok', 'error'].includes(document.getElementById('status').dataset.state)"
        )
        status = self.page.locator("#status")
        return str(status.get_attribute("data-state")), str(status.text_content())

    def act(self, button: str) -> tuple[str, str]:
        """Click and wait for the status line (cleared first, so an old message never answers)."""
        self.page.evaluate("() => { const s = document.getElementById('status'); s.dataset.state = 'idle'; }")
        self.click(button)
        return self.wait_status()

    def whoami(self) -> str:
        return str(self.page.locator("#whoami-user").text_content())

    def logged_in(self) -> bool:
        return bool(self.page.locator("#session-panel").is_visible())

    def shot(self, step: str) -> Path:
        path = self.shots_dir / f"{len(self.shots) + 1:02d}-{step}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)
        return path


@dataclass
class Captured:
    """Bodies of the POST requests a page sent to one path, in order."""

    path: str
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def on_request(self, request: Any) -> None:
        if request.method == "POST" and request.url.split("?")[0].endswith(self.path):
            self.bodies.append(json.loads(request.post_data or "null"))


def capture_posts(page: Any, path: str) -> Captured:
    captured = Captured(path)
    page.on("request", captured.on_request)
    return captured
