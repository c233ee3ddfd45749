"""Real-browser tests: Playwright driving Debian's Chromium against pytest-django's live_server.

Playwright's own browser download cannot work here, so the system Chromium is launched by path.
Tests using `live_server` run on a transactional database that is flushed after each test; the autouse
`roles_and_nodes` fixture of tests/conftest.py still runs first, so groups and node settings exist.
"""

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
]
PASSWORD = "pw-12345"  # tests/factories.py user_with_role


@pytest.fixture(scope="session")
def browser() -> Browser:
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()
    pw.stop()


@pytest.fixture
def page(browser: Browser) -> Page:
    """A fresh context (no cookies) per test, on a browser set to English as many office PCs are."""
    context = browser.new_context(
        locale="en-US",  # pages must still be Chinese first
        timezone_id="Asia/Shanghai",
        viewport={"width": 1400, "height": 1000},
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def login(page: Page, live_server, username: str, password: str = PASSWORD) -> None:
    """Log in through the real admin login form and land on the admin home."""
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
