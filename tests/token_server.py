"""A loopback target that answers 401 unless a request carries the staging credential.

A request is authorised when it carries any of: the ``token`` query parameter, the
``X-Api-Key`` header, or HTTP Basic auth, each with the right value. ``/health`` can be left
open, so that readiness passes and what is judged is the load (or the security checks).
Every request is recorded (``requests``), with whether it was authorised.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from servers import HARDENED_HEADERS, Answer, LoopbackServer, Request, json_answer

TOKEN = "tok-3141592653-secret"
API_KEY = "key-2718281828-secret"
USER, PASSWORD = "loaduser", "pw-1618033988-secret"
SECRETS = (TOKEN, API_KEY, PASSWORD)


def authorised(req: Request) -> bool:
    """Whether ``req`` carries one of the accepted credentials."""
    query = dict(parse_qsl(urlsplit(req.path).query, keep_blank_values=True))
    headers = {k.lower(): v for k, v in req.headers.items()}
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    return (query.get("token") == TOKEN or headers.get("x-api-key") == API_KEY
            or headers.get("authorization") == f"Basic {basic}")


@dataclass
class TokenServer(LoopbackServer):
    """401 for every request without the credential (``/health`` too unless ``open_health``)."""

    open_health: bool = True
    always_headers: dict[str, str] = field(default_factory=lambda: dict(HARDENED_HEADERS))

    def default(self, req: Request) -> Answer:
        path = urlsplit(req.path).path
        if not authorised(req) and not (self.open_health and path == "/health"):
            return json_answer({"error": "unauthorised"}, 401)
        if path.startswith("/api/"):
            return json_answer({"items": [1, 2, 3]})
        return super().default(req)

    def carried(self) -> tuple[list[Any], list[Any]]:
        """(authorised requests, unauthorised requests) seen so far."""
        seen = list(self.requests)
        return [r for r in seen if authorised(r)], [r for r in seen if not authorised(r)]
