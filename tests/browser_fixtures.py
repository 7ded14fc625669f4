"""A real Chromium driven by Playwright against real node processes; screenshots go to test-artifacts/browser/.

Playwright never downloads a browser here: it drives the system Chromium (apt-get install chromium).
When Chromium cannot be launched the browser tests fail under CI (CI=true) and are skipped locally,
each time with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.procs import REPO

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))  # another distro may name it differently
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "test-artifacts" / "browser"


def browser_unavailable(reason: str) -> None:
    """Fail under CI, where the browser tests must run; skip on a developer's machine."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """The system Chromium, headless; each launch gets a fresh temporary profile from Playwright."""
    if not CHROMIUM.exists():
        browser_unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as exc:
        browser_unavailable(f"the playwright package is missing ({exc})")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    except Error as exc:
        playwright.stop()
        browser_unavailable(f"Chromium at {CHROMIUM} did not start: {exc.message.splitlines()[0]}")
    try:
        yield chromium
    finally:
        chromium.close()
        playwright.stop()


@pytest.fixture
def new_page(browser, request) -> Iterator:
    """Factory: a page in its own browser context (its own cookies: one logged-in person per page)."""
    contexts = []

    def make(base_url: str, *, locale: str = "en-GB", width: int = 1100, height: int = 900, mobile: bool = False):
        """A page whose browser asks for `locale` (Accept-Language): a desktop's (1100 x 900), or with mobile=True
        a phone's (e.g. width=390: touch, mobile viewport)."""
        extra = {"is_mobile": True, "has_touch": True, "device_scale_factor": 2} if mobile else {}
        context = browser.new_context(
            base_url=base_url, viewport={"width": width, "height": height}, locale=locale, **extra
        )
        context.set_default_timeout(15000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot(request):
    """Call screenshot(page, "name") to save a full-page PNG as test-artifacts/browser/<module>/NN-name.png."""
    folder = ARTIFACTS / request.node.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    folder.mkdir(parents=True, exist_ok=True)
    count = 0

    def take(page, name: str) -> Path:
        nonlocal count
        count += 1
        path = folder / f"{count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
