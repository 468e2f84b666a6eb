"""The demo shop's OpenAPI document (served at ``GET /openapi.json``) and the ``schema-drift``
defect: a deploy that renames a product field without updating the document. Only the contract
gate notices it: no hand-written test of the sample suite reads that field.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: The field the ``schema-drift`` defect renames in product answers, and its new name.
DRIFTED_FIELD = ("description", "details")
_PRODUCT_PATH = re.compile(r"^/api/products(/\d+)?$")


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


def _page_of(item: str) -> dict[str, Any]:
    return {"type": "object", "required": ["items", "page", "per_page", "total", "pages"],
            "properties": {"items": {"type": "array", "items": _ref(item)},
                           "page": {"type": "integer", "minimum": 1},
                           "per_page": {"type": "integer", "minimum": 1},
                           "total": {"type": "integer", "minimum": 0},
                           "pages": {"type": "integer", "minimum": 1}}}


_PAGING = [
    {"name": "page", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "maximum": 100000}},
    {"name": "per_page", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
]
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
_LOGIN_REQUIRED = _error("login required")

DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Demo Shop API", "version": "1.4.2"},
    "servers": [{"url": "/"}],
    "paths": {
        "/health": {"get": {"operationId": "health", "responses": {
            "200": _json({"type": "object", "required": ["status"],
                          "properties": {"status": {"type": "string"}}}, "ready")}}},
        "/version": {"get": {"operationId": "version", "responses": {
            "200": _json({"type": "object", "required": ["version"],
                          "properties": {"version": {"type": "string"}}}, "deployed release")}}},
        "/api/products": {
            "get": {"operationId": "listProducts", "parameters": _PAGING, "responses": {
                "200": _json(_page_of("Product"), "one page of the catalogue"),
                "422": _error("invalid pagination")}},
            "post": {"operationId": "createProduct",
                     "requestBody": {"required": True, "content": {
                         "application/json": {"schema": _ref("NewProduct")}}},
                     "responses": {"201": _json(_ref("Product"), "created"),
                                   "400": _error("not a JSON object"),
                                   "401": _LOGIN_REQUIRED, "403": _error("staff only"),
                                   "422": _error("validation failed")}},
        },
        "/api/products/{id}": {
            "get": {"operationId": "getProduct", "parameters": [_ID], "responses": {
                "200": _json(_ref("Product"), "one product"),
                "404": _error("no such product")}},
            "patch": {"operationId": "updateProduct", "parameters": [_ID],
                      "requestBody": {"required": True, "content": {
                          "application/json": {"schema": _ref("ProductChange")}}},
                      "responses": {"200": _json(_ref("Product"), "updated"),
                                    "400": _error("not a JSON object"),
                                    "401": _LOGIN_REQUIRED, "403": _error("staff only"),
                                    "404": _error("no such product"),
                                    "422": _error("validation failed")}},
            "delete": {"operationId": "deleteProduct", "parameters": [_ID], "responses": {
                "204": {"description": "deleted"}, "401": _LOGIN_REQUIRED,
                "403": _error("staff only"), "404": _error("no such product")}},
        },
        "/api/search": {"get": {
            "operationId": "searchProducts",
            "parameters": [{"name": "q", "in": "query", "required": True,
                            "schema": {"type": "string", "minLength": 2, "maxLength": 50}},
                           *_PAGING],
            "responses": {"200": _json(_page_of("Product"), "matching products"),
                          "422": _error("invalid search or pagination")}}},
        "/api/me": {"get": {"operationId": "me", "responses": {
            "200": _json(_ref("User"), "the logged-in user"), "401": _LOGIN_REQUIRED}}},
        "/api/orders": {
            "get": {"operationId": "listOrders", "parameters": _PAGING, "responses": {
                "200": _json(_page_of("Order"), "my orders"), "401": _LOGIN_REQUIRED,
                "422": _error("invalid pagination")}},
            "post": {"operationId": "placeOrder",
                     "requestBody": {"required": True, "content": {
                         "application/json": {"schema": _ref("NewOrder")}}},
                     "responses": {"201": _json(_ref("Order"), "placed"),
                                   "400": _error("not a JSON object"),
                                   "401": _LOGIN_REQUIRED,
                                   "422": _error("validation failed")}},
        },
        "/api/orders/{id}": {"get": {"operationId": "getOrder", "parameters": [_ID],
                                     "responses": {"200": _json(_ref("Order"), "one order"),
                                                   "401": _LOGIN_REQUIRED,
                                                   "404": _error("no such order")}}},
        "/api/orders/{id}/cancel": {"post": {
            "operationId": "cancelOrder", "parameters": [_ID],
            "responses": {"200": _json(_ref("Order"), "cancelled"), "401": _LOGIN_REQUIRED,
                          "404": _error("no such order"),
                          "409": _error("already cancelled")}}},
        "/api/login": {"post": {
            "operationId": "login",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["email", "password"],
                "properties": {"email": {"type": "string"}, "password": {"type": "string"}}}}}},
            "responses": {"200": _json(_ref("User"), "logged in (sets the session cookie)"),
                          "400": _error("not a JSON object"),
                          "401": _error("invalid email or password")}}},
        "/api/logout": {"post": {"operationId": "logout",
                                 "responses": {"204": {"description": "logged out"}}}},
    },
    "components": {"schemas": {
        "Error": {"type": "object", "required": ["error"],
                  "properties": {"error": {"type": "string"},
                                 "fields": {"type": "object",
                                            "additionalProperties": {"type": "string"}}}},
        "Product": {"type": "object", "required": ["id", "name", "price_cents", "description"],
                    "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                                   "price_cents": {"type": "integer", "minimum": 1},
                                   "description": {"type": "string"}}},
        "NewProduct": {"type": "object", "required": ["name", "price_cents"],
                       "properties": {"name": {"type": "string", "minLength": 1},
                                      "price_cents": {"type": "integer", "minimum": 1},
                                      "description": {"type": "string", "maxLength": 500}}},
        "ProductChange": {"type": "object",
                          "properties": {"name": {"type": "string", "minLength": 1},
                                         "price_cents": {"type": "integer", "minimum": 1},
                                         "description": {"type": "string"}}},
        "User": {"type": "object", "required": ["email", "name", "role"],
                 "properties": {"email": {"type": "string"}, "name": {"type": "string"},
                                "role": {"type": "string", "enum": ["customer", "staff"]}}},
        "NewOrder": {"type": "object", "required": ["items"], "properties": {"items": {
            "type": "array", "minItems": 1, "maxItems": 20, "items": {
                "type": "object", "required": ["product_id", "quantity"],
                "properties": {"product_id": {"type": "integer"},
                               "quantity": {"type": "integer", "minimum": 1,
                                            "maximum": 100}}}}}},
        "Order": {"type": "object",
                  "required": ["id", "items", "total_cents", "status", "created"],
                  "properties": {"id": {"type": "integer"}, "items": {"type": "array"},
                                 "total_cents": {"type": "integer"},
                                 "status": {"type": "string",
                                            "enum": ["placed", "cancelled"]},
                                 "created": {"type": "string"}}},
    }},
}


def document_bytes() -> bytes:
    return json.dumps(DOCUMENT).encode()


def drift(method: str, path: str, body: bytes) -> bytes:
    """The ``schema-drift`` defect: product answers carry ``details`` instead of
    ``description`` (a rename shipped without its document)."""
    if method != "GET" or not _PRODUCT_PATH.match(path) or not body:
        return body
    try:
        data = json.loads(body)
    except ValueError:
        return body
    old, new = DRIFTED_FIELD
    products = data.get("items", []) if "items" in data else [data]
    for product in products:
        if isinstance(product, dict) and old in product:
            product[new] = product.pop(old)
    return json.dumps(data).encode()
