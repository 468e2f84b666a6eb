"""Integration: a customer places, lists and cancels orders."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from sample_suite.expect import expect

pytestmark = pytest.mark.integration

PlaceOrder = Callable[..., dict[str, Any]]


def test_placed_order_has_the_right_total(place_order: PlaceOrder,
                                          catalogue_product: dict[str, Any]) -> None:
    order = place_order(quantity=3)
    assert order["status"] == "placed"
    assert order["total_cents"] == 3 * catalogue_product["price_cents"]
    assert [i["product_id"] for i in order["items"]] == [catalogue_product["id"]]


def test_order_can_be_read_back(shopper: requests.Session, place_order: PlaceOrder) -> None:
    order = place_order()
    assert expect(shopper.get(f"/api/orders/{order['id']}"), 200).json() == order


def test_orders_list_pages_through_my_orders(shopper: requests.Session,
                                             place_order: PlaceOrder) -> None:
    mine = {place_order()["id"] for _ in range(3)}
    first = expect(shopper.get("/api/orders", params={"per_page": 2}), 200).json()
    assert first["total"] >= 3 and first["pages"] >= 2
    seen: list[int] = []
    for page in range(1, first["pages"] + 1):
        body = expect(shopper.get("/api/orders", params={"page": page, "per_page": 2}),
                      200).json()
        assert len(body["items"]) <= 2
        seen.extend(o["id"] for o in body["items"])
    assert mine <= set(seen), f"orders {sorted(mine - set(seen))} missing from the listing"
    assert len(seen) == len(set(seen)), "an order appears on two pages"


def test_cancelled_order_stays_cancelled(shopper: requests.Session,
                                         place_order: PlaceOrder) -> None:
    order = place_order()
    cancelled = expect(shopper.post(f"/api/orders/{order['id']}/cancel"), 200).json()
    assert cancelled["status"] == "cancelled"
    expect(shopper.post(f"/api/orders/{order['id']}/cancel"), 409)


@pytest.mark.parametrize("make_items, field", [
    (lambda pid: [{"product_id": 999999999, "quantity": 1}], "items[0].product_id"),
    (lambda pid: [{"product_id": pid, "quantity": 0}], "items[0].quantity"),
    (lambda pid: [{"product_id": pid, "quantity": 101}], "items[0].quantity"),
    (lambda pid: [], "items"),
], ids=["unknown-product", "zero-quantity", "too-many", "no-items"])
def test_invalid_order_is_a_422_naming_the_field(
        shopper: requests.Session, catalogue_product: dict[str, Any],
        make_items: Callable[[int], list[dict[str, int]]], field: str) -> None:
    items = make_items(catalogue_product["id"])
    body = expect(shopper.post("/api/orders", json={"items": items}), 422).json()
    assert field in body["fields"]


def test_orders_require_login(staging: requests.Session) -> None:
    expect(staging.get("/api/orders"), 401)
    expect(staging.post("/api/orders", json={"items": []}), 401)
