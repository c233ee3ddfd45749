import os

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from logistics.services import carrier_state_mappings_ensure
from orders.selectors import erp_endpoints_forget, promise_thresholds_forget
from orders.services.calendars import calendar_default_ensure
from orders.services.deadlines import calendars_forget, ladder_levels_forget
from orders.services.duplicates import duplicate_settings_forget
from orders.services.nodes import status_nodes_ensure_defaults
from orders.services.notify import notice_config_forget
from orders.services.owners import alert_routes_ensure_defaults
from orders.services.roles import roles_sync
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.factories import SkuFactory, WarehouseFactory, stock_in, user_with_role
from warehouse.selectors import allocation_settings

# Playwright's sync API runs an event loop in the test thread; Django must still allow ORM calls there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def roles_and_nodes(db):
    """Every test starts with the role groups and default status-node settings, as after setup."""
    roles_sync()
    status_nodes_ensure_defaults()
    carrier_state_mappings_ensure()  # seeded by a migration; transactional tests flush it
    alert_routes_ensure_defaults()  # likewise
    calendar_default_ensure()  # likewise
    erp_endpoints_forget()  # the process's list of active ERP endpoints: those of an earlier test are gone
    duplicate_settings_forget()  # likewise the duplicate-check settings row
    notice_config_forget()  # likewise the nodes that notify customers and the SMS channel
    calendars_forget()  # likewise the process's working calendars and promise light thresholds
    promise_thresholds_forget()
    ladder_levels_forget()  # likewise the levels at % of the allowed time


@pytest.fixture(autouse=True)
def manual_allocation(db):
    """Most tests move orders step by step, so paid orders stay paid unless a test turns this back on
    (the product's default is on: see tests/warehouse)."""
    settings = allocation_settings()
    settings.auto_allocate = False
    settings.save()
    return settings


@pytest.fixture
def kefu(db):
    return user_with_role("客服", "kefu")


@pytest.fixture
def cangku(db):
    return user_with_role("仓库", "cangku")


@pytest.fixture
def yunying(db):
    return user_with_role("运营主管", "yunying")


@pytest.fixture
def caiwu(db):
    return user_with_role("财务", "caiwu")


@pytest.fixture
def integrator(db):
    user = user_with_role("系统对接", "api")
    user.is_staff = False
    user.save()
    return user


@pytest.fixture
def stocked(db):
    """The usual test SKUs (MASK-001, gift SAMPLE-3) with 100 units each in warehouse SH01."""
    warehouse = WarehouseFactory()
    for code, name, category in (("MASK-001", "补水面膜", "面膜"), ("SAMPLE-3", "面膜试用装", "赠品")):
        stock_in(SkuFactory(code=code, name=name, category=category), warehouse, 100)
    return warehouse


def client_for(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def api(integrator) -> APIClient:
    """The integrator's token client: may create and read orders and verify payment."""
    return client_for(integrator)


@pytest.fixture(scope="session")
def browser() -> Browser:
    """One Chromium for the whole run, started only when a browser test asks for it.

    It lives here so every test package shares it: a second sync Playwright in the same thread fails.
    """
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
