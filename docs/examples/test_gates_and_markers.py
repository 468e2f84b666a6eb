"""Gates, advisory and destructive tests, a policy-declared gate, and recorded gate data."""

import pytest

from pytest_staging.record import record

# Every test in this module belongs to the integration gate.
pytestmark = pytest.mark.integration


@pytest.mark.smoke
def test_version_is_reported(staging):
    # The closest gate marker wins: this test is in the `smoke` gate the policy declares.
    assert staging.get("/version").json()["version"]


@pytest.mark.advisory
def test_catalogue_sends_an_etag(staging):
    # Reported in the verdict, never blocks: a failure is a "would have blocked" warning.
    assert staging.get("/api/products").headers.get("ETag")


@pytest.mark.destructive
def test_staff_can_delete_a_product(staging):
    # Changes shared data: never run when the target matches the policy's sensitive_url.
    staging.post("/api/login", json={"email": "staff@example.com",
                                     "password": "staple-horse-battery"})
    product = staging.post("/api/products", json={"name": "Docs mug", "price_cents": 500})
    assert staging.delete(f"/api/products/{product.json()['id']}").status_code == 204


def test_catalogue_size_is_recorded(request, staging):
    total = staging.get("/api/products").json()["total"]
    # Numbers and named checks travel to verdict.json, under this test's gate.
    record(request.node,
           metrics={"catalogue": {"products": total}},
           checks=[{"name": "catalogue not empty", "passed": total > 0, "blocking": True,
                    "detail": f"{total} products"}])
    assert total > 0
