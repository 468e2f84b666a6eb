"""Issue 10, class 11: destructive requests reaching production.

Every request and every redirect hop of a ``@pytest.mark.destructive`` test is checked against
``sensitive_url`` before it is sent; an unsafe method redirected to a sensitive URL is refused in
any test when the target itself is not sensitive. The refusal fails the test (NO-GO naming the
URL and the pattern) even when the test swallows the exception, and the sensitive URL never
sees the request.
"""

from __future__ import annotations

import re

import pytest
from harness import assert_go, assert_no_go, run_staging
from servers import LoopbackServer, Request, json_answer

from pytest_staging.client import SensitiveURLRefused, StagingSession
from pytest_staging.sensitive import DEFAULT_SENSITIVE_URL, sensitive_match

SENSITIVE = ["prod", "production", "prod1", "prod01", "eu-prod2", "prod_eu", "prd", "shop-prd",
             "PROD", "api.prod.example.com", "shop-prd-3", "prod-us-east-1", "Production"]
NOT_SENSITIVE = ["products", "reproduce", "preprod", "pre-prod", "pre_prod", "nonprod",
                 "non-prod", "staging", "prodigy", "product-catalog", "sprd", "stage-2"]


@pytest.mark.parametrize("text", SENSITIVE)
def test_default_pattern_matches_production_spellings(text: str) -> None:
    match = sensitive_match(DEFAULT_SENSITIVE_URL, [f"https://{text}.example.com/api/"])
    assert match is not None, text
    assert match.text.lower() in text.lower()
    assert DEFAULT_SENSITIVE_URL in match.describe() and text in match.describe()


@pytest.mark.parametrize("text", NOT_SENSITIVE)
def test_default_pattern_leaves_other_words_alone(text: str) -> None:
    assert sensitive_match(DEFAULT_SENSITIVE_URL, [f"https://{text}.example.com/{text}/"]) is None


def test_percent_encoding_does_not_hide_a_match() -> None:
    match = sensitive_match(DEFAULT_SENSITIVE_URL, ["https://shop.example/%70rod-eu/orders"])
    assert match is not None and match.text == "prod"


def test_shown_url_drops_credentials_and_query() -> None:
    match = sensitive_match(DEFAULT_SENSITIVE_URL,
                            ["https://user:pw123456@prod.example.com/a?token=s3cr3t-value"])
    assert match is not None
    assert "pw123456" not in match.describe() and "s3cr3t" not in match.describe()


def redirecting(server: LoopbackServer, method: str, path: str, to: str,
                status: int = 307) -> None:
    def answer(req: Request) -> tuple[int, dict[str, str], bytes]:
        return status, {"Location": to}, b""

    server.routes[f"{method} {path}"] = answer


def reached(server: LoopbackServer, pattern: str) -> list[str]:
    return [f"{r.method} {r.path}" for r in server.requests if re.search(pattern, r.path)]


def test_session_refuses_each_hop_before_sending(server: LoopbackServer) -> None:
    redirecting(server, "GET", "/api/orders", "/eu-prod2/api/orders")
    session = StagingSession(server.url, retries=0, timeout=5)
    session.guard_sensitive(DEFAULT_SENSITIVE_URL, destructive=True, allow_destructive=False)
    with pytest.raises(SensitiveURLRefused, match=r"refused GET .*/eu-prod2/api/orders.*"
                                                  r"matched 'prod2'|matched 'prod'"):
        session.get("/api/orders")
    assert reached(server, "prod") == []
    assert [r.path for r in server.requests] == ["/api/orders"]


def test_session_lets_safe_redirects_of_ordinary_tests_through(server: LoopbackServer) -> None:
    redirecting(server, "GET", "/docs", "/production/docs")
    server.routes["/production/docs"] = lambda req: json_answer({"ok": True})
    session = StagingSession(server.url, retries=0, timeout=5)
    session.guard_sensitive(DEFAULT_SENSITIVE_URL, destructive=False, allow_destructive=False)
    assert session.get("/docs").status_code == 200
    assert session.refused == []


DESTRUCTIVE_SUITE = """
import pytest

@pytest.mark.destructive
def test_delete_orders(staging):
    response = staging.delete("/api/orders")
    assert response.status_code in (200, 204)

def test_health(staging):
    assert staging.get("/health").status_code == 200
"""

SWALLOWING_SUITE = """
import pytest

@pytest.mark.destructive
def test_delete_orders_quietly(staging):
    try:
        staging.delete("/api/orders")
    except Exception:
        pass  # a test that hides every error must not hide the guard

def test_health(staging):
    assert staging.get("/health").status_code == 200
"""

UNSAFE_REDIRECT_SUITE = """
def test_create_order(staging):
    staging.post("/api/orders", json={"sku": "x"})

def test_health(staging):
    assert staging.get("/health").status_code == 200
"""


def test_destructive_delete_redirected_to_production_is_refused(
        pytester: pytest.Pytester, server: LoopbackServer, mode: list[str]) -> None:
    redirecting(server, "DELETE", "/api/orders", "/production/api/orders")
    server.routes["DELETE /production/api/orders"] = lambda req: json_answer({}, 204)
    pytester.makepyfile(test_app=DESTRUCTIVE_SUITE)
    verdict = assert_no_go(run_staging(pytester, server.url, *mode),
                           r"sensitive URL guard: refused DELETE .*/production/api/orders")
    reason = next(r for r in verdict["reasons"] if "refused" in r)
    assert "sensitive_url" in reason and "'production'" in reason
    assert reached(server, "production") == []
    evidence = verdict["gates"]["integration"]["failures"][0]["evidence"]
    assert evidence[-1]["error"].startswith("SensitiveURLRefused: refused DELETE")


def test_destructive_refusal_counts_even_when_the_test_swallows_it(
        pytester: pytest.Pytester, server: LoopbackServer, mode: list[str]) -> None:
    redirecting(server, "DELETE", "/api/orders", f"{server.url}shop-prd/orders",
                status=308)
    pytester.makepyfile(test_app=SWALLOWING_SUITE)
    assert_no_go(run_staging(pytester, server.url, *mode),
                 r"sensitive URL guard: refused DELETE .*/shop-prd/orders")
    assert reached(server, "prd") == []


def test_unsafe_redirect_to_sensitive_url_refused_in_any_test(
        pytester: pytest.Pytester, server: LoopbackServer) -> None:
    redirecting(server, "POST", "/api/orders", "/prod01/api/orders")
    pytester.makepyfile(test_app=UNSAFE_REDIRECT_SUITE)
    assert_no_go(run_staging(pytester, server.url, "-p", "no:xdist"),
                 r"refused POST .*/prod01/api/orders: POST to a sensitive URL")
    assert reached(server, "prod01") == []


def test_allow_destructive_lets_the_request_through(
        pytester: pytest.Pytester, server: LoopbackServer) -> None:
    redirecting(server, "DELETE", "/api/orders", "/production/api/orders")
    server.routes["DELETE /production/api/orders"] = lambda req: json_answer({}, 204)
    pytester.makepyfile(test_app=DESTRUCTIVE_SUITE)
    assert_go(run_staging(pytester, server.url, "-p", "no:xdist",
                          "--staging-allow-destructive"))
    assert reached(server, "production") == ["DELETE /production/api/orders"]
