"""A small API with an OpenAPI document, served on 127.0.0.1, for the contract gate's tests:
``ContractAPI()`` conforms to its document; ``ContractAPI(drift=...)`` does not. Every request
is logged (method, path, headers, time) so tests count what the gate sent at the server."""

from __future__ import annotations

import json
import time
from typing import Any

from servers import Answer, LoopbackServer, Request, json_answer

PRODUCTS = [{"id": 1, "name": "mug", "price": 7.5}, {"id": 2, "name": "tee", "price": 19.0}]

PRODUCT = {
    "type": "object",
    "required": ["id", "name", "price"],
    "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                   "price": {"type": "number"}},
}
ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "contract test API", "version": "1.0.0"},
    "paths": {
        "/api/products": {
            "get": {
                "operationId": "listProducts",
                "parameters": [{"name": "limit", "in": "query", "required": False,
                                "schema": {"type": "integer", "minimum": 1, "maximum": 50}},
                               # Generated values must never replace --staging-header's.
                               {"name": "X-Api-Key", "in": "header", "required": True,
                                "schema": {"type": "string", "minLength": 1}}],
                "responses": {
                    "200": {"description": "products",
                            **_json({"type": "array", "items": PRODUCT})},
                    "400": {"description": "bad query", **_json(ERROR)},
                },
            },
            "post": {
                "operationId": "createProduct",
                "requestBody": {"required": True, **_json(PRODUCT)},
                "responses": {"201": {"description": "created", **_json(PRODUCT)},
                              "400": {"description": "bad body", **_json(ERROR)}},
            },
        },
        "/api/products/{id}": {
            "get": {
                "operationId": "getProduct",
                "parameters": [{"name": "id", "in": "path", "required": True,
                                "schema": {"type": "integer"}}],
                "responses": {
                    "200": {"description": "one product", **_json(PRODUCT)},
                    "404": {"description": "no such product", **_json(ERROR)},
                },
            },
            "delete": {
                "operationId": "deleteProduct",
                "parameters": [{"name": "id", "in": "path", "required": True,
                                "schema": {"type": "integer"}}],
                "responses": {"204": {"description": "deleted"},
                              "404": {"description": "no such product", **_json(ERROR)}},
            },
        },
    },
}


class ContractAPI(LoopbackServer):
    """The API of :data:`DOCUMENT`. ``drift``: ``"rename"`` renames ``price`` in a product,
    ``"status"`` answers an undocumented 418 for a missing product; ``""`` conforms."""

    def __init__(self, drift: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.drift = drift
        #: (monotonic time, path) of every request, to check the rate limit.
        self.times: list[tuple[float, str]] = []

    def product(self, item: dict[str, Any]) -> dict[str, Any]:
        if self.drift == "rename":
            item = {**item, "cost": item["price"]}
            del item["price"]
        return item

    def default(self, req: Request) -> Answer:
        self.times.append((time.monotonic(), req.path))
        path = req.path.partition("?")[0]
        if path == "/openapi.json":
            return json_answer(DOCUMENT)
        if path == "/api/products":
            if req.method == "POST":
                try:
                    body = json.loads(req.body or b"null")
                except ValueError:
                    body = None
                if not isinstance(body, dict):
                    return json_answer({"error": "expected an object"}, 400)
                return json_answer(self.product({**PRODUCTS[0], **{
                    k: v for k, v in body.items() if k in PRODUCT["properties"]
                    and isinstance(v, (int, float, str))}}), 201)
            return json_answer([self.product(p) for p in PRODUCTS])
        if path.startswith("/api/products/"):
            ident = path.rsplit("/", 1)[1]
            found = [p for p in PRODUCTS if str(p["id"]) == ident]
            if req.method == "DELETE":
                return (204, {}, b"") if found else json_answer({"error": "no such"}, 404)
            if found:
                return json_answer(self.product(found[0]))
            return json_answer({"error": "no such product"}, 418 if self.drift == "status"
                               else 404)
        return super().default(req)

    def api_times(self) -> list[float]:
        return sorted(t for t, path in self.times if path.startswith("/api/"))

    def api_requests(self) -> list[Request]:
        """Requests the gate generated (not the readiness and schema fetches)."""
        return [r for r in self.requests if r.path.startswith("/api/")]
