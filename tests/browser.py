"""Real-browser helpers: Playwright driving Debian's Chromium (its own browser download cannot work here)."""

from playwright.sync_api import Page

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


def login(page: Page, live_server, username: str, password: str = PASSWORD) -> None:
    """Log in through the real admin login form and land on the admin home."""
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
