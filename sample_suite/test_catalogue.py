"""Integration: the catalogue (pagination, validation, staff changes) and search."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from sample_suite.expect import expect

pytestmark = pytest.mark.integration


def test_product_list_pages_do_not_overlap(staging: requests.Session) -> None:
    first = expect(staging.get("/api/products", params={"per_page": 5}), 200).json()
    assert first["page"] == 1 and first["per_page"] == 5
    assert first["pages"] >= 2, "the catalogue should have more than one page of 5"
    seen: list[int] = []
    for page in range(1, min(first["pages"], 4) + 1):
        body = expect(staging.get("/api/products", params={"page": page, "per_page": 5}),
                      200).json()
        assert 0 < len(body["items"]) <= 5
        seen.extend(p["id"] for p in body["items"])
    # Sorted by id and disjoint: paging never repeats or reorders a product.
    assert seen == sorted(set(seen))


@pytest.mark.parametrize("params, field", [
    ({"page": "0"}, "page"),
    ({"page": "two"}, "page"),
    ({"per_page": "0"}, "per_page"),
    ({"per_page": "101"}, "per_page"),
])
def test_bad_pagination_is_a_422_naming_the_field(staging: requests.Session,
                                                  params: dict[str, str], field: str) -> None:
    body = expect(staging.get("/api/products", params=params), 422).json()
    assert field in body["fields"]


def test_product_detail_matches_the_list(staging: requests.Session,
                                         catalogue_product: dict[str, Any]) -> None:
    detail = expect(staging.get(f"/api/products/{catalogue_product['id']}"), 200).json()
    assert detail == catalogue_product


def test_product_detail_is_consistently_available(staging: requests.Session,
                                                  catalogue_product: dict[str, Any]) -> None:
    path = f"/api/products/{catalogue_product['id']}"
    statuses = [staging.get(path).status_code for _ in range(20)]
    failures = [s for s in statuses if s != 200]
    assert not failures, (f"GET {path} flaps: {len(failures)} of 20 requests failed "
                          f"(statuses {sorted(set(failures))})")


def test_missing_product_is_404(staging: requests.Session) -> None:
    expect(staging.get("/api/products/999999999"), 404)


def test_search_finds_products_by_name(staging: requests.Session,
                                       catalogue_product: dict[str, Any]) -> None:
    word = catalogue_product["name"].split()[-1]
    body = expect(staging.get("/api/search", params={"q": word.upper()}), 200).json()
    assert catalogue_product["id"] in [p["id"] for p in body["items"]]
    assert all(word.lower() in p["name"].lower() for p in body["items"])


def test_search_without_query_is_422(staging: requests.Session) -> None:
    body = expect(staging.get("/api/search", params={"q": " "}), 422).json()
    assert "q" in body["fields"]


@pytest.mark.advisory
def test_product_list_supports_conditional_requests(staging: requests.Session) -> None:
    # Nice to have for the mobile app's data plan; not a release blocker.
    for _ in range(3):  # another test may change the catalogue between the two requests
        etag = expect(staging.get("/api/products"), 200).headers.get("ETag")
        assert etag, "GET /api/products sends no ETag"
        if staging.get("/api/products", headers={"If-None-Match": etag}).status_code == 304:
            return
    pytest.fail("GET /api/products never answers 304 Not Modified to its own ETag")


@pytest.mark.destructive
def test_staff_can_add_change_and_remove_a_product(
        staff: requests.Session, make_product: Callable[..., dict[str, Any]]) -> None:
    product = make_product(price_cents=500)
    path = f"/api/products/{product['id']}"
    assert expect(staff.get(path), 200).json()["price_cents"] == 500
    changed = expect(staff.patch(path, json={"price_cents": 450}), 200).json()
    assert changed["price_cents"] == 450 and changed["name"] == product["name"]
    expect(staff.delete(path), 204)
    expect(staff.get(path), 404)


@pytest.mark.destructive
@pytest.mark.parametrize("body, fields", [
    ({"price_cents": 100}, {"name"}),
    ({"name": "  ", "price_cents": 100}, {"name"}),
    ({"name": "Mug", "price_cents": 0}, {"price_cents"}),
    ({"name": "Mug", "price_cents": "12.50"}, {"price_cents"}),
    ({"name": "Mug", "price_cents": 100, "colour": "red"}, {"colour"}),
], ids=["no-name", "blank-name", "zero-price", "string-price", "unknown-field"])
def test_invalid_product_is_a_422_naming_each_field(staff: requests.Session,
                                                    body: dict[str, Any],
                                                    fields: set[str]) -> None:
    answer = expect(staff.post("/api/products", json=body), 422).json()
    assert answer["error"] == "validation failed"
    assert set(answer["fields"]) == fields
