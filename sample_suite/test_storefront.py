"""Browser journeys through the storefront, with pytest-playwright's ``page`` fixture.

They run in the integration gate like any test and count in the verdict. ``page.goto("/shop")``
goes to the staging target: pytest-staging makes ``base_url`` the staging URL. A failing
journey leaves a screenshot, the console errors and the failed requests in the verdict
(``--tracing retain-on-failure`` adds the Playwright trace).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests

from sample_suite.accounts import Account
from sample_suite.browser_support import skip_reason

if skip_reason():
    # The demo runs anywhere: without a browser this module is skipped at collection, which
    # the verdict shows as a skipped test of the integration gate (its pytestmark below) with
    # this reason; `[gates.integration] max_skipped = 0` would make it block.
    pytest.skip(skip_reason(), allow_module_level=True)

from playwright.sync_api import Page, expect

pytestmark = pytest.mark.integration


@pytest.fixture
def signed_in(page: Page, shopper_account: Account) -> Page:
    """The page, logged in as the customer through the login form."""
    page.goto("/shop/login")
    page.get_by_label("Email").fill(shopper_account.email)
    page.get_by_label("Password").fill(shopper_account.password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/shop$"))
    return page


@pytest.fixture
def placed_orders(shopper: requests.Session) -> Iterator[list[int]]:
    """Orders a journey placed; cancelled at teardown through the API."""
    placed: list[int] = []
    yield placed
    for order_id in placed:
        response = shopper.post(f"/api/orders/{order_id}/cancel")
        assert response.status_code in (200, 409), f"cleanup: {response.status_code}"


def test_log_in_through_the_form(signed_in: Page) -> None:
    expect(signed_in.get_by_role("heading", name="Catalogue")).to_be_visible()


def test_wrong_password_is_refused(page: Page, shopper_account: Account) -> None:
    page.goto("/shop/login")
    page.get_by_label("Email").fill(shopper_account.email)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("status")).to_have_text("Wrong email or password")


def test_browse_the_catalogue(page: Page) -> None:
    page.goto("/shop")
    products = page.locator("li.product")
    expect(products.first).to_be_visible()
    assert products.count() >= 3


def test_add_to_cart(page: Page) -> None:
    page.goto("/shop")
    first = page.locator("li.product").first
    name = first.locator(".name").inner_text()
    first.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_role("status")).to_have_text(f"Added {name} to your cart")
    expect(page.locator("#cart-count")).to_have_text("1")


def test_check_out(signed_in: Page, placed_orders: list[int]) -> None:
    signed_in.locator("li.product").first.get_by_role("button", name="Add to cart").click()
    expect(signed_in.locator("#cart-count")).to_have_text("1")
    signed_in.get_by_role("link", name=re.compile("Cart")).click()
    signed_in.get_by_role("button", name="Check out").click()
    status = signed_in.get_by_role("status")
    expect(status).to_have_text(re.compile(r"Thank you! Order \d+ is placed"))
    placed_orders.append(int(status.get_attribute("data-order-id") or 0))
    expect(signed_in.locator("#cart-count")).to_have_text("0")


def test_unknown_page_shows_the_error_page(page: Page) -> None:
    response = page.goto("/shop/no-such-page")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    page.get_by_role("link", name="Back to the catalogue").click()
    expect(page.get_by_role("heading", name="Catalogue")).to_be_visible()
