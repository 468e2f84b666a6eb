"""The demo staging app: a small shop JSON API on the standard library only.

Run it by hand with ``python -m sample_suite.app --port 8000`` (add ``--defect NAME`` to inject a
regression), or in-process with :func:`start_app`, which is what the sample suite's conftest does
when no staging URL is given.

What it serves:

- ``GET /health``, ``GET /version``: readiness and the deployed release;
- ``POST /api/login``, ``POST /api/logout``, ``GET /api/me``: a cookie session;
- ``/api/products``: the catalogue, paginated; staff create, update and delete products;
- ``/api/orders``: a customer's own orders, paginated; place and cancel;
- ``GET /api/search?q=``: product search;
- ``GET /`` and ``GET /account``: HTML pages;
- ``/shop``: the storefront for the browser journeys (``sample_suite/storefront.py``).
- ``GET /openapi.json``: the API's OpenAPI document (``sample_suite/openapi.py``).

Every response carries strict security headers; errors are JSON without stack traces.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import html
import itertools
import json
import logging
import re
import secrets
import signal
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sample_suite import openapi

RELEASE_VERSION = "1.4.2"
PREVIOUS_VERSION = "1.4.1"
SESSION_COOKIE = "shop_session"
MAX_BODY = 64 * 1024
SLOW_SEARCH_SECONDS = 0.4
LOG = logging.getLogger("sample_suite.app")

#: The regressions ``--defect`` can inject, one realistic mistake each.
DEFECTS: dict[str, str] = {
    "missing-header": "the Content-Security-Policy header is dropped from every response",
    "insecure-cookie": "the session cookie is set without HttpOnly and SameSite",
    "slow-search": f"GET /api/search takes {SLOW_SEARCH_SECONDS * 1000:.0f} ms per request",
    "broken-orders": "GET /api/orders answers 500 Internal Server Error",
    "exposed-env": "/.env is served, with the app's database URL and secret key",
    "wrong-version": f"/version reports the previous release {PREVIOUS_VERSION}",
    "flapping": "GET /api/products/<id> fails every third request",
    "dead-cart-button": "the storefront's Add to cart button throws a JavaScript error (UI only)",
    "schema-drift": "product answers rename 'description' to 'details' (the OpenAPI document "
                    "still says 'description')",
}

#: Regressions only a comparison with production catches (the parity gate): the suite passes.
PARITY_DEFECTS: dict[str, str] = {
    "drops-hsts": "Strict-Transport-Security is no longer sent (production sends it)",
    "removes-field": "products lose their description field in GET /api/products[/<id>]",
}

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

# Demo accounts (password hashes, never the passwords, live in the app's state).
DEMO_USERS = {
    "shopper@example.com": ("Sam Shopper", "customer", "correct-horse-battery"),
    "staff@example.com": ("Kim Staff", "staff", "staple-horse-battery"),
}
_MATERIALS = ("Ceramic", "Steel", "Glass", "Bamboo")
_THINGS = ("mug", "cup", "kettle", "grinder", "teapot", "scale")


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 10_000)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    https: bool
    user: dict[str, Any] | None = None


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class HTTPError(Exception):
    """An error answer: ``status`` and a JSON body (``fields`` for validation errors)."""

    def __init__(self, status: int, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.fields = status, message, fields


def json_reply(data: Any, status: int = 200, **headers: str) -> Reply:
    return Reply(status, json.dumps(data).encode(), headers=dict(headers))


def html_reply(title: str, body: str, status: int = 200) -> Reply:
    page = (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<title>{html.escape(title)} - Demo Shop</title>'
            f'<link rel="stylesheet" href="/static/shop.css"></head>'
            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>\n")
    return Reply(status, page.encode(), "text/html; charset=utf-8")


# -- validation ------------------------------------------------------------------------------
def _int_param(query: dict[str, str], name: str, default: int, low: int, high: int,
               errors: dict[str, str]) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"\d{1,6}", raw) or not low <= int(raw) <= high:
        errors[name] = f"must be an integer from {low} to {high}"
        return default
    return int(raw)


def paginate(items: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
    """One page of ``items`` as ``{items, page, per_page, total, pages}``; 422 on bad params."""
    errors: dict[str, str] = {}
    page = _int_param(query, "page", 1, 1, 100_000, errors)
    per_page = _int_param(query, "per_page", 10, 1, 100, errors)
    if errors:
        raise HTTPError(422, "invalid pagination", errors)
    start = (page - 1) * per_page
    return {"items": items[start:start + per_page], "page": page, "per_page": per_page,
            "total": len(items), "pages": max(1, -(-len(items) // per_page))}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_product(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """The product fields of ``data``, or 422 with one message per bad field."""
    errors: dict[str, str] = {}
    unknown = set(data) - {"name", "price_cents", "description"}
    for name in sorted(unknown):
        errors[name] = "unknown field"
    if "name" in data or not partial:
        name = data.get("name")
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100:
            errors["name"] = "required, 1 to 100 characters"
    if "price_cents" in data or not partial:
        price = data.get("price_cents")
        if not _is_int(price) or not 0 < price <= 10_000_000:
            errors["price_cents"] = "required, a positive integer (cents)"
    if "description" in data and not (isinstance(data["description"], str)
                                      and len(data["description"]) <= 500):
        errors["description"] = "a string of at most 500 characters"
    if errors:
        raise HTTPError(422, "validation failed", errors)
    return {k: (v.strip() if k == "name" else v) for k, v in data.items()}


class Shop:
    """The shop's state and routes. Thread-safe: one lock around every change."""

    def __init__(self, defects: Iterable[str] = ()) -> None:
        self.defects = frozenset(defects)
        unknown = self.defects - set(DEFECTS) - set(PARITY_DEFECTS)
        if unknown:
            raise ValueError(f"unknown defect(s): {', '.join(sorted(unknown))} "
                             f"(known: {', '.join([*DEFECTS, *PARITY_DEFECTS])})")
        self.lock = threading.Lock()
        self.users: dict[str, dict[str, Any]] = {}
        for email, (name, role, password) in DEMO_USERS.items():
            salt = secrets.token_bytes(16)
            self.users[email] = {"email": email, "name": name, "role": role,
                                 "salt": salt, "hash": _hash(password, salt)}
        self.sessions: dict[str, str] = {}
        self.products: dict[int, dict[str, Any]] = {}
        self.orders: dict[int, dict[str, Any]] = {}
        self.ids = itertools.count(1)
        self.detail_hits = itertools.count(1)
        from sample_suite.storefront import storefront_routes  # its pages use this module
        for n, (material, thing) in enumerate(itertools.product(_MATERIALS, _THINGS)):
            self._add_product({"name": f"{material} {thing}", "price_cents": 900 + 150 * n,
                               "description": f"A {material.lower()} {thing} for your kitchen."})
        self.routes: list[tuple[str, re.Pattern[str], Callable[..., Reply]]] = [
            (m, re.compile(f"^{p}$"), h) for m, p, h in (
                ("GET", "/health", self.health),
                ("GET", "/version", self.version),
                ("GET", "/", self.home_page),
                ("GET", "/account", self.account_page),
                ("GET", "/static/shop.css", self.stylesheet),
                ("GET", "/.env", self.dotenv),
                ("GET", "/openapi.json", lambda request: Reply(200, openapi.document_bytes())),
                ("POST", "/api/login", self.login),
                ("POST", "/api/logout", self.logout),
                ("GET", "/api/me", self.me),
                ("GET", "/api/products", self.list_products),
                ("POST", "/api/products", self.create_product),
                ("GET", r"/api/products/(\d+)", self.get_product),
                ("PATCH", r"/api/products/(\d+)", self.update_product),
                ("DELETE", r"/api/products/(\d+)", self.delete_product),
                ("GET", "/api/search", self.search),
                ("GET", "/api/orders", self.list_orders),
                ("POST", "/api/orders", self.place_order),
                ("GET", r"/api/orders/(\d+)", self.get_order),
                ("POST", r"/api/orders/(\d+)/cancel", self.cancel_order),
                *storefront_routes(self),
            )
        ]

    # -- plumbing --------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        """Route ``request``; errors become JSON answers, never stack traces."""
        sid = _cookie(request.headers.get("Cookie", ""), SESSION_COOKIE)
        with self.lock:
            email = self.sessions.get(sid) if sid else None
            request.user = self.users.get(email) if email else None
        allowed = []
        for method, pattern, handler in self.routes:
            match = pattern.match(request.path)
            if match is None:
                continue
            if method != request.method:
                allowed.append(method)
                continue
            try:
                reply = handler(request, *match.groups())
                if "schema-drift" in self.defects:
                    reply.body = openapi.drift(request.method, request.path, reply.body)
                return reply
            except HTTPError as exc:
                body: dict[str, Any] = {"error": exc.message}
                if exc.fields:
                    body["fields"] = exc.fields
                return json_reply(body, exc.status)
        if allowed:
            return json_reply({"error": "method not allowed"}, 405, Allow=", ".join(allowed))
        return json_reply({"error": "not found"}, 404)

    def _json_body(self, request: Request) -> dict[str, Any]:
        try:
            data = json.loads(request.body or b"null")
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise HTTPError(400, "the body must be a JSON object")
        return data

    def _login_required(self, request: Request, role: str | None = None) -> dict[str, Any]:
        if request.user is None:
            raise HTTPError(401, "login required")
        if role and request.user["role"] != role:
            raise HTTPError(403, f"{role} only")
        return request.user

    def _add_product(self, fields: dict[str, Any]) -> dict[str, Any]:
        product = {"id": next(self.ids), "description": "", **fields}
        self.products[product["id"]] = product
        return product

    def _product(self, product_id: str) -> dict[str, Any]:
        product = self.products.get(int(product_id))
        if product is None:
            raise HTTPError(404, "no such product")
        return product

    def _public(self, product: dict[str, Any]) -> dict[str, Any]:
        if "removes-field" in self.defects:
            return {k: v for k, v in product.items() if k != "description"}
        return product

    # -- health, version, pages ------------------------------------------------------------
    def health(self, request: Request) -> Reply:
        return json_reply({"status": "ok"})

    def version(self, request: Request) -> Reply:
        wrong = "wrong-version" in self.defects
        return json_reply({"version": PREVIOUS_VERSION if wrong else RELEASE_VERSION})

    def home_page(self, request: Request) -> Reply:
        with self.lock:
            items = "".join(
                f"<li>{html.escape(p['name'])}: {p['price_cents'] / 100:.2f} EUR</li>"
                for p in list(self.products.values())[:10])
        return html_reply("Demo Shop", f'<ul class="products">{items}</ul>'
                                       '<p><a href="/account">Your account</a></p>')

    def account_page(self, request: Request) -> Reply:
        if request.user is None:
            return html_reply("Please log in", "<p>Log in to see your account.</p>", 401)
        user = request.user
        with self.lock:
            count = sum(1 for o in self.orders.values() if o["user"] == user["email"])
        return html_reply("Your account", f"<p>Signed in as {html.escape(user['name'])}.</p>"
                                          f"<p>Orders: {count}</p>")

    def stylesheet(self, request: Request) -> Reply:
        return Reply(200, b"body { font-family: sans-serif; margin: 2em; }\n",
                     "text/css; charset=utf-8", {"Cache-Control": "public, max-age=3600"})

    def dotenv(self, request: Request) -> Reply:
        if "exposed-env" not in self.defects:
            raise HTTPError(404, "not found")
        # A deploy that ships its environment file into the web root.
        return Reply(200, b"DATABASE_URL=postgres://shop:s3cr3t-db-pass@db:5432/shop\n"
                          b"SECRET_KEY=demo-not-a-real-secret-key\n", "text/plain")

    # -- sessions --------------------------------------------------------------------------
    def login(self, request: Request) -> Reply:
        data = self._json_body(request)
        email, password = data.get("email"), data.get("password")
        user = self.users.get(email) if isinstance(email, str) else None
        if (not isinstance(password, str) or user is None
                or not hmac.compare_digest(_hash(password, user["salt"]), user["hash"])):
            raise HTTPError(401, "invalid email or password")
        sid = secrets.token_urlsafe(32)
        with self.lock:
            self.sessions[sid] = user["email"]
        reply = json_reply({"email": user["email"], "name": user["name"], "role": user["role"]})
        reply.headers["Set-Cookie"] = self._session_cookie(sid, request.https)
        return reply

    def _session_cookie(self, value: str, https: bool, max_age: int | None = None) -> str:
        parts = [f"{SESSION_COOKIE}={value}", "Path=/"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if "insecure-cookie" not in self.defects:
            parts += ["HttpOnly", "SameSite=Lax"]
            if https:
                parts.append("Secure")
        return "; ".join(parts)

    def logout(self, request: Request) -> Reply:
        sid = _cookie(request.headers.get("Cookie", ""), SESSION_COOKIE)
        with self.lock:
            self.sessions.pop(sid or "", None)
        return Reply(204, headers={"Set-Cookie": self._session_cookie("", request.https, 0)})

    def me(self, request: Request) -> Reply:
        user = self._login_required(request)
        return json_reply({"email": user["email"], "name": user["name"], "role": user["role"]})

    # -- products --------------------------------------------------------------------------
    def list_products(self, request: Request) -> Reply:
        with self.lock:
            products = sorted(self.products.values(), key=lambda p: p["id"])
        body = json.dumps(paginate([self._public(p) for p in products], request.query)).encode()
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        headers = {"ETag": etag, "Cache-Control": "public, max-age=60"}
        if request.headers.get("If-None-Match") == etag:
            return Reply(304, headers=headers)
        return Reply(200, body, headers=headers)

    def get_product(self, request: Request, product_id: str) -> Reply:
        if "flapping" in self.defects and next(self.detail_hits) % 3 == 0:
            raise HTTPError(500, "internal error")
        with self.lock:
            return json_reply(self._public(self._product(product_id)))

    def create_product(self, request: Request) -> Reply:
        self._login_required(request, "staff")
        fields = validate_product(self._json_body(request), partial=False)
        with self.lock:
            product = self._add_product(fields)
        return json_reply(product, 201, Location=f"/api/products/{product['id']}")

    def update_product(self, request: Request, product_id: str) -> Reply:
        self._login_required(request, "staff")
        fields = validate_product(self._json_body(request), partial=True)
        with self.lock:
            product = self._product(product_id)
            product.update(fields)
            return json_reply(product)

    def delete_product(self, request: Request, product_id: str) -> Reply:
        self._login_required(request, "staff")
        with self.lock:
            self._product(product_id)
            del self.products[int(product_id)]
        return Reply(204)

    def search(self, request: Request) -> Reply:
        term = request.query.get("q", "").strip().lower()
        if len(term) < 2:
            raise HTTPError(422, "invalid search", {"q": "required, at least 2 characters"})
        if "slow-search" in self.defects:
            time.sleep(SLOW_SEARCH_SECONDS)  # a missing index: a full scan on every query
        with self.lock:
            found = [p for p in sorted(self.products.values(), key=lambda p: p["id"])
                     if term in p["name"].lower()]
        return json_reply(paginate(found, request.query))

    # -- orders ----------------------------------------------------------------------------
    def list_orders(self, request: Request) -> Reply:
        user = self._login_required(request)
        if "broken-orders" in self.defects:
            raise RuntimeError("orders index is corrupt")  # -> a plain 500, no trace
        with self.lock:
            mine = [o for o in self.orders.values() if o["user"] == user["email"]]
        return json_reply(paginate(sorted(mine, key=lambda o: o["id"]), request.query))

    def get_order(self, request: Request, order_id: str) -> Reply:
        user = self._login_required(request)
        with self.lock:
            order = self.orders.get(int(order_id))
            if order is None or order["user"] != user["email"]:
                raise HTTPError(404, "no such order")
            return json_reply(order)

    def place_order(self, request: Request) -> Reply:
        user = self._login_required(request)
        data = self._json_body(request)
        lines = data.get("items")
        errors: dict[str, str] = {}
        if set(data) - {"items"}:
            errors.update(dict.fromkeys(sorted(set(data) - {"items"}), "unknown field"))
        if not isinstance(lines, list) or not 1 <= len(lines) <= 20:
            errors["items"] = "required, a list of 1 to 20 {product_id, quantity}"
            lines = []
        with self.lock:
            items = []
            for n, line in enumerate(lines):
                line = line if isinstance(line, dict) else {}
                product = self.products.get(line.get("product_id")) if _is_int(
                    line.get("product_id")) else None
                quantity = line.get("quantity")
                if product is None:
                    errors[f"items[{n}].product_id"] = "no such product"
                if not _is_int(quantity) or not 1 <= quantity <= 100:
                    errors[f"items[{n}].quantity"] = "an integer from 1 to 100"
                if product is not None and not errors:
                    items.append({"product_id": product["id"], "name": product["name"],
                                  "quantity": quantity,
                                  "unit_price_cents": product["price_cents"]})
            if errors:
                raise HTTPError(422, "validation failed", errors)
            order = {"id": next(self.ids), "user": user["email"], "items": items,
                     "total_cents": sum(i["quantity"] * i["unit_price_cents"] for i in items),
                     "status": "placed", "created": _now()}
            self.orders[order["id"]] = order
        return json_reply(order, 201, Location=f"/api/orders/{order['id']}")

    def cancel_order(self, request: Request, order_id: str) -> Reply:
        user = self._login_required(request)
        with self.lock:
            order = self.orders.get(int(order_id))
            if order is None or order["user"] != user["email"]:
                raise HTTPError(404, "no such order")
            if order["status"] == "cancelled":
                raise HTTPError(409, "order already cancelled")
            order["status"] = "cancelled"
            return json_reply(order)


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


class ShopHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler that turns each request into ``Shop.handle``."""

    protocol_version = "HTTP/1.1"
    server: ShopServer

    def version_string(self) -> str:
        return "shop"  # no product or version banner

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _dispatch(self) -> None:
        shop = self.server.shop
        request_id = secrets.token_hex(8)
        try:
            raw_length = self.headers.get("Content-Length") or "0"
            length = int(raw_length) if raw_length.isdigit() else -1
            if not 0 <= length <= MAX_BODY:
                # Unreadable or too large: answer, then drop the connection (the body is unread).
                reply = (json_reply({"error": "request body too large"}, 413) if length > 0
                         else json_reply({"error": "invalid Content-Length"}, 400))
                self.close_connection = True
            else:
                url = urlsplit(self.path)
                request = Request(
                    method="GET" if self.command == "HEAD" else self.command,
                    path=url.path,
                    query={k: v[-1] for k, v in parse_qs(url.query).items()},
                    headers=dict(self.headers.items()),
                    body=self.rfile.read(length) if length else b"",
                    https=isinstance(self.connection, ssl.SSLSocket))
                reply = shop.handle(request)
        except Exception as exc:
            # The cause goes to the server's log, never to the client.
            LOG.error("request %s %s %s failed: %s: %s", request_id, self.command, self.path,
                      type(exc).__name__, exc, exc_info=self.server.verbose)
            reply = json_reply({"error": "internal error", "request_id": request_id}, 500)
        self._send(reply, request_id)

    def _send(self, reply: Reply, request_id: str) -> None:
        self.send_response(reply.status)
        headers = {**SECURITY_HEADERS, "Cache-Control": "no-store", **reply.headers}
        # Sent over plain HTTP too, as behind a TLS-terminating proxy (browsers ignore it there,
        # so the security gate judges it on HTTPS only; the parity gate sees it go missing).
        if "drops-hsts" not in self.server.shop.defects:
            headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
        if "missing-header" in self.server.shop.defects:
            headers.pop("Content-Security-Policy")
        if reply.status != 304 and reply.status != 204:
            headers["Content-Type"] = reply.content_type
        headers["Content-Length"] = str(len(reply.body))
        headers["X-Request-Id"] = request_id
        if self.close_connection:
            headers["Connection"] = "close"
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch


class ShopServer(ThreadingHTTPServer):
    """A threaded server with Nagle's algorithm off (no 40 ms stalls on keep-alive)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], shop: Shop, verbose: bool = False) -> None:
        self.shop, self.verbose = shop, verbose
        super().__init__(address, ShopHandler)

    def server_bind(self) -> None:
        super().server_bind()
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


@dataclass
class RunningApp:
    """A demo shop serving in a background thread; ``url`` ends with a slash."""

    server: ShopServer
    thread: threading.Thread
    url: str

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_app(port: int = 0, defects: Iterable[str] = (), *, host: str = "127.0.0.1",
              ssl_context: ssl.SSLContext | None = None, verbose: bool = False) -> RunningApp:
    """Start the shop in a background thread (port 0: a free port) and return it running."""
    server = ShopServer((host, port), Shop(defects), verbose)
    if ssl_context is not None:
        server.socket = ssl_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="demo-shop", daemon=True)
    thread.start()
    scheme = "https" if ssl_context is not None else "http"
    return RunningApp(server, thread, f"{scheme}://{host}:{server.server_address[1]}/")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sample_suite.app",
                                     description="the pytest-staging demo shop")
    parser.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 [8000]")
    parser.add_argument("--defect", action="append", default=[],
                        choices=sorted([*DEFECTS, *PARITY_DEFECTS]),
                        help="inject a regression; repeatable")
    parser.add_argument("--certfile", help="serve HTTPS with this certificate chain (PEM)")
    parser.add_argument("--keyfile", help="private key of --certfile (PEM)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    context = None
    if args.certfile:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.certfile, args.keyfile)
    # Ctrl-C and SIGTERM stop the server cleanly, even when started from a script that
    # ignores SIGINT for background jobs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    app = start_app(args.port, args.defect, ssl_context=context, verbose=args.verbose)
    try:
        defects = ", ".join(args.defect) or "none"
        print(f"demo shop {RELEASE_VERSION} on {app.url} (defects: {defects}); Ctrl-C stops it",
              flush=True)
        # Short waits: SIGINT may land on a server thread, and an untimed join() in the main
        # thread would then never wake up to run the KeyboardInterrupt handler.
        while app.thread.is_alive():
            app.thread.join(timeout=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        app.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
