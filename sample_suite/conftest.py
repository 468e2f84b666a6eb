"""Fixtures of the sample acceptance suite.

``pytest sample_suite`` with no staging URL starts the demo shop in-process and tests it
(``--defect NAME`` injects a regression); ``pytest sample_suite --staging-url URL`` tests a real
deployment, logging in with the accounts from ``SHOP_USER``/``SHOP_PASSWORD`` and
``SHOP_STAFF_USER``/``SHOP_STAFF_PASSWORD``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
import requests

from sample_suite.accounts import Account, account_from_env, log_in
from sample_suite.app import DEFECTS, PARITY_DEFECTS, RELEASE_VERSION, start_app
from sample_suite.expect import expect

DEMO_STARTED = pytest.StashKey[str]()


# -- the embedded demo app -------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sample", "sample suite")
    group.addoption("--defect", action="append", default=[],
                    choices=sorted([*DEFECTS, *PARITY_DEFECTS]), metavar="NAME",
                    help=f"inject a regression into the embedded demo app; repeatable "
                         f"({', '.join([*DEFECTS, *PARITY_DEFECTS])}) [none]")


@pytest.hookimpl(optionalhook=True)
def pytest_staging_default_url(config: pytest.Config) -> str:
    """No staging URL given: start the demo shop on a free 127.0.0.1 port and test it."""
    app = start_app(defects=config.getoption("defect"))
    config.add_cleanup(app.stop)
    config.stash[DEMO_STARTED] = app.url
    # The release being promoted is the one this demo ships, unless the run says otherwise.
    if not config.getoption("staging_expect_version") and not os.environ.get(
            "STAGING_EXPECT_VERSION"):
        config.option.staging_expect_version = RELEASE_VERSION
    return app.url


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    _stand_in_for_missing_gate_fixtures(config)
    if hasattr(config, "workerinput") or not config.getoption("defect"):
        return
    if DEMO_STARTED not in config.stash:
        raise pytest.UsageError(
            "--defect changes the embedded demo app only; it cannot be used with a staging URL")


# -- fixtures of optional gates --------------------------------------------------------------
#: Fixtures that come with a gate of pytest-staging, and the gate that brings each.
GATE_FIXTURES = {"staging_scan": "the security gate", "staging_load": "the performance gate"}


def _skipping(name: str, gate: str) -> Callable[[], None]:
    @pytest.fixture(name=name)
    def missing() -> None:
        pytest.skip(f"needs the {name} fixture ({gate}), which the installed pytest-staging "
                    f"does not provide")
    return missing


def _stand_in_for_missing_gate_fixtures(config: pytest.Config) -> None:
    """Tests that use a gate fixture the installation lacks skip with a reason, not an error.

    Only missing fixtures get a stand-in, so the real ones are used as soon as they exist.
    """
    plugins = config.pluginmanager.get_plugins()
    missing = {name: _skipping(name, gate) for name, gate in GATE_FIXTURES.items()
               if not any(hasattr(plugin, name) for plugin in plugins)}
    if missing:
        stand_ins = ModuleType("sample_gate_stand_ins")  # pytest reads fixtures off a module
        stand_ins.__dict__.update(missing)
        config.pluginmanager.register(stand_ins, "sample-gate-stand-ins")


def pytest_report_header(config: pytest.Config) -> str | None:
    if DEMO_STARTED not in config.stash:
        return None
    defects = ", ".join(config.getoption("defect")) or "none"
    return f"demo shop {RELEASE_VERSION} embedded at {config.stash[DEMO_STARTED]} " \
           f"(defects: {defects})"


# -- accounts and logged-in clients ----------------------------------------------------------
@pytest.fixture(scope="session")
def shopper_account() -> Account:
    """The customer account: env ``SHOP_USER``/``SHOP_PASSWORD``, else the demo customer."""
    return account_from_env("SHOP", "shopper@example.com")


@pytest.fixture(scope="session")
def staff_account() -> Account:
    """The staff account: env ``SHOP_STAFF_USER``/``SHOP_STAFF_PASSWORD``, else the demo one."""
    return account_from_env("SHOP_STAFF", "staff@example.com")


@pytest.fixture
def shopper(staging: requests.Session, shopper_account: Account) -> Iterator[requests.Session]:
    """The ``staging`` client logged in as a customer; logged out again afterwards."""
    log_in(staging, shopper_account)
    yield staging
    staging.post("/api/logout")


@pytest.fixture
def staff(staging: requests.Session, staff_account: Account) -> Iterator[requests.Session]:
    """The ``staging`` client logged in as staff (may change the catalogue); logged out after."""
    log_in(staging, staff_account)
    yield staging
    staging.post("/api/logout")


# -- test data: factories that clean up after themselves -------------------------------------
@pytest.fixture
def catalogue_product(staging: requests.Session) -> dict[str, Any]:
    """A product the catalogue already offers (staging data the suite does not own)."""
    page = expect(staging.get("/api/products", params={"per_page": 1}), 200).json()
    if not page["items"]:
        pytest.skip("the catalogue is empty on this target")
    return page["items"][0]


@pytest.fixture
def place_order(shopper: requests.Session, catalogue_product: dict[str, Any]
                ) -> Iterator[Callable[..., dict[str, Any]]]:
    """Factory: ``place_order(quantity=2)`` places an order as the shopper and returns it.

    Every order it placed is cancelled at teardown, so the shopper's account does not fill
    up with test orders (orders are never deleted, only cancelled).
    """
    placed: list[int] = []

    def place(quantity: int = 1, product_id: int | None = None) -> dict[str, Any]:
        item = {"product_id": product_id or catalogue_product["id"], "quantity": quantity}
        order = expect(shopper.post("/api/orders", json={"items": [item]}), 201).json()
        placed.append(order["id"])
        return order

    yield place
    for order_id in placed:
        response = shopper.post(f"/api/orders/{order_id}/cancel")
        # 409: the test cancelled it itself.
        assert response.status_code in (200, 409), f"cleanup: {response.status_code}"


@pytest.fixture
def make_product(staff: requests.Session) -> Iterator[Callable[..., dict[str, Any]]]:
    """Factory: ``make_product(price_cents=500)`` adds a uniquely named product as staff.

    Every product it made is deleted at teardown (a 404 means the test deleted it already).
    """
    made: list[int] = []

    def make(**fields: Any) -> dict[str, Any]:
        body = {"name": f"pytest-staging {uuid.uuid4().hex[:8]}", "price_cents": 1234,
                "description": "made by the acceptance suite", **fields}
        product = expect(staff.post("/api/products", json=body), 201).json()
        made.append(product["id"])
        return product

    yield make
    for product_id in made:
        response = staff.delete(f"/api/products/{product_id}")
        assert response.status_code in (204, 404), f"cleanup: {response.status_code}"
