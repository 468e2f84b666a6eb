"""The demo shop's storefront: HTML pages and one script, for the browser journeys.

- ``GET /shop``: the catalogue, each product with an "Add to cart" button;
- ``GET /shop/login``: a login form (posts to ``/api/login``);
- ``GET /shop/cart``: the cart (kept in the browser's localStorage) and a "Check out" button
  that places the order through ``POST /api/orders``;
- ``GET /shop/static/shop.js``: the script (the CSP allows scripts from 'self' only);
- any other ``/shop/...`` path: an HTML "Page not found" page with status 404.

The ``dead-cart-button`` defect ships a script whose "Add to cart" handler throws: the API
is untouched, so only a test that clicks the button in a browser notices.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from sample_suite.app import Reply, Request, html_reply

DEFECT = "dead-cart-button"

SCRIPT = r"""
"use strict";
const CART = "demo-shop-cart";
const cart = () => JSON.parse(localStorage.getItem(CART) || "[]");
const save = (items) => localStorage.setItem(CART, JSON.stringify(items));
const $ = (selector) => document.querySelector(selector);

function showCount() {
  const count = $("#cart-count");
  if (count) count.textContent = String(cart().reduce((n, item) => n + item.quantity, 0));
}

function addToCart(button) {
  const id = Number(button.dataset.productId);
  const items = cart();
  const line = items.find((item) => item.product_id === id);
  if (line) line.quantity += 1; else items.push({product_id: id, quantity: 1});
  save(items);
  /*DEFECT*/
  showCount();
  $("#status").textContent = `Added ${button.dataset.productName} to your cart`;
}

async function logIn(form) {
  const body = {email: form.email.value, password: form.password.value};
  const answer = await fetch("/api/login", {method: "POST", body: JSON.stringify(body),
                                            headers: {"Content-Type": "application/json"}});
  if (answer.ok) { window.location.assign("/shop"); return; }
  $("#status").textContent = "Wrong email or password";
}

async function checkOut() {
  const items = cart();
  if (!items.length) { $("#status").textContent = "Your cart is empty"; return; }
  const answer = await fetch("/api/orders", {method: "POST", body: JSON.stringify({items}),
                                             headers: {"Content-Type": "application/json"}});
  if (answer.status === 401) { window.location.assign("/shop/login"); return; }
  if (!answer.ok) { $("#status").textContent = `Checkout failed (${answer.status})`; return; }
  const order = await answer.json();
  save([]);
  showCount();
  $("#status").textContent = `Thank you! Order ${order.id} is placed`;
  $("#status").dataset.orderId = String(order.id);
}

function showCart() {
  const list = $("#cart-items");
  if (!list) return;
  list.replaceChildren(...cart().map((item) => {
    const row = document.createElement("li");
    row.textContent = `product ${item.product_id} x ${item.quantity}`;
    return row;
  }));
}

document.addEventListener("DOMContentLoaded", () => {
  showCount();
  showCart();
  for (const button of document.querySelectorAll("button.add")) {
    button.addEventListener("click", () => addToCart(button));
  }
  const form = $("#login");
  if (form) form.addEventListener("submit", (event) => { event.preventDefault(); logIn(form); });
  const checkout = $("#checkout");
  if (checkout) checkout.addEventListener("click", checkOut);
});
"""

#: The realistic slip: the cart counter's element was renamed and the script not updated.
BROKEN = 'document.querySelector("#basket-count").textContent = "";'

NAV = ('<nav><a href="/shop">Catalogue</a> · <a href="/shop/cart">Cart (<span id="cart-count">'
       '0</span>)</a> · <a href="/shop/login">Log in</a></nav><p id="status" role="status"></p>')


def _page(title: str, body: str, status: int = 200) -> Reply:
    reply = html_reply(title, NAV + body, status)
    reply.body = reply.body.replace(b"</head>",
                                    b'<script src="/shop/static/shop.js" defer></script></head>')
    return reply


def storefront_routes(shop: Any) -> list[tuple[str, str, Callable[..., Reply]]]:
    """``(method, path regex, handler)`` rows for the shop's route table."""
    script = SCRIPT.replace("/*DEFECT*/", BROKEN if DEFECT in shop.defects else "")

    def catalogue(request: Request) -> Reply:
        with shop.lock:
            products = list(shop.products.values())[:12]
        rows = "".join(
            f'<li class="product"><span class="name">{html.escape(p["name"])}</span> '
            f'{p["price_cents"] / 100:.2f} EUR <button class="add" data-product-id="{p["id"]}"'
            f' data-product-name="{html.escape(p["name"])}">Add to cart</button></li>'
            for p in products)
        return _page("Catalogue", f'<ul class="products">{rows}</ul>')

    def login(request: Request) -> Reply:
        return _page("Log in", '<form id="login"><label>Email <input name="email" '
                               'type="email" required></label> <label>Password <input '
                               'name="password" type="password" required></label> '
                               '<button type="submit">Log in</button></form>')

    def cart(request: Request) -> Reply:
        return _page("Your cart", '<ul id="cart-items"></ul>'
                                  '<button id="checkout">Check out</button>')

    def javascript(request: Request) -> Reply:
        return Reply(200, script.encode(), "text/javascript; charset=utf-8")

    def not_found(request: Request, rest: str) -> Reply:
        return _page("Page not found", '<p class="error">There is no such page in the shop. '
                                       '<a href="/shop">Back to the catalogue</a></p>', 404)

    return [
        ("GET", "/shop", catalogue),
        ("GET", "/shop/login", login),
        ("GET", "/shop/cart", cart),
        ("GET", "/shop/static/shop.js", javascript),
        ("GET", "/shop/(.+)", not_found),
    ]
