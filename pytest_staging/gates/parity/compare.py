"""Observe one target, and compare two observations: plain functions, no pytest import.

``observe_*`` take a :class:`~pytest_staging.gates.parity.client.ReadOnlyClient` and return
plain data; ``compare_*`` take the production and the staging observation and return parity
findings (see :func:`pytest_staging.gates.parity.rules.finding`), each with both values.
A target that cannot be observed raises :class:`ParityCheckError`: a comparison that could
not look never passes.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from pytest_staging.deadline import read_capped, tls_handshake
from pytest_staging.gates.parity.client import ParityRefused, ReadOnlyClient
from pytest_staging.gates.parity.rules import SECURITY_PREFIX, finding
from pytest_staging.gates.parity.shape import compare_shapes, shape_of
from pytest_staging.gates.security.http_checks import (
    SecurityCheckError,
    check_cors,
    cookie_findings,
    header_findings,
    parse_set_cookie,
    set_cookie_headers,
)
from pytest_staging.gates.security.transport import ca_file, legacy_tls_context, plain_http_url
from pytest_staging.redact import strip_credentials
from pytest_staging.request_problems import describe, request_failed

BODY_LIMIT = 1024 * 1024
#: The headers the security gate's header checks look at.
SECURITY_HEADERS: tuple[str, ...] = (
    "Strict-Transport-Security", "Content-Security-Policy", "X-Content-Type-Options",
    "X-Frame-Options", "Referrer-Policy", "Cross-Origin-Opener-Policy",
    "Cross-Origin-Resource-Policy",
)
#: The header a security rule is about (a removed header is reported once, as removed).
RULE_HEADER: dict[str, str] = {
    "csp-missing": "Content-Security-Policy", "csp-unsafe-inline": "Content-Security-Policy",
    "csp-unsafe-eval": "Content-Security-Policy", "csp-no-script-src": "Content-Security-Policy",
    "hsts-missing": "Strict-Transport-Security",
    "hsts-short-max-age": "Strict-Transport-Security",
    "xcto-missing": "X-Content-Type-Options", "clickjacking-unprotected": "X-Frame-Options",
    "referrer-policy-missing": "Referrer-Policy", "referrer-policy-unsafe": "Referrer-Policy",
    "coop-missing": "Cross-Origin-Opener-Policy", "corp-missing": "Cross-Origin-Resource-Policy",
}
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class ParityCheckError(RuntimeError):
    """A comparison could not observe a target: one line for a human."""


@dataclass
class Page:
    url: str
    status: int
    content_type: str
    body: bytes
    response: requests.Response = field(repr=False)


def join(base: str, path: str) -> str:
    return urljoin(base, path.lstrip("/"))


def fetch(client: ReadOnlyClient, path: str, *, limit: int = BODY_LIMIT) -> Page:
    """GET ``path`` under the client's base URL (redirects followed), body up to ``limit``."""
    url = join(client.base_url, path)
    try:
        response = client.get(url, stream=True, allow_redirects=True)
        body = read_capped(response, limit)
    except ParityRefused:
        raise  # the budget or the read-only rule: its own words
    except requests.RequestException as exc:
        raise ParityCheckError(
            f"{client.name}: {request_failed('GET', strip_credentials(url), exc)}") from None
    media = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    return Page(response.url or url, response.status_code, media, body, response)


def _json(page: Page) -> Any:
    if "json" not in page.content_type:
        return None
    try:
        return json.loads(page.body.decode(page.response.encoding or "utf-8", "replace"))
    except ValueError:
        return None


# ---------------------------------------------------------------- security


def observe_security(client: ReadOnlyClient, path: str = "/") -> dict[str, Any]:
    """Security headers, cookie flags and CORS behaviour of the page at ``path``."""
    page = fetch(client, path, limit=65536)
    response = page.response
    found = header_findings(response) + cookie_findings(response)
    try:
        found += check_cors(client, join(client.base_url, path), timeout=client.timeout)
    except SecurityCheckError as exc:
        raise ParityCheckError(f"{client.name}: {exc}") from None
    cookies: dict[str, str] = {}
    for hop in [*response.history, response]:
        for header in set_cookie_headers(hop):
            name, attrs = parse_set_cookie(header)
            # Attribute names (and SameSite's value), never the cookie's value.
            cookies[name] = "; ".join(
                f"{k}={v}" if k == "samesite" else k for k in attrs for v in [attrs[k]]
            ) or "(no attributes)"
    findings = {}
    for item in found:
        findings[f"{item['rule']}|{item.get('cookie', '')}"] = {
            "rule": item["rule"], "cookie": item.get("cookie", ""),
            "evidence": str(item.get("evidence", "")), "title": item.get("title", "")}
    return {"url": page.url, "status": page.status,
            "headers": {h: response.headers.get(h) for h in SECURITY_HEADERS},
            "cookies": cookies, "findings": findings}


def _security_value(observed: Mapping[str, Any], item: Mapping[str, Any]) -> str:
    """What a target showed for the subject of a security rule."""
    rule = str(item["rule"])
    if item.get("cookie"):
        attrs = observed["cookies"].get(item["cookie"])
        return f"Set-Cookie {item['cookie']}: {attrs}" if attrs else \
            f"cookie {item['cookie']} not set"
    if rule == "clickjacking-unprotected" or rule.startswith("csp"):
        xfo = observed["headers"].get("X-Frame-Options")
        csp = observed["headers"].get("Content-Security-Policy")
        return f"X-Frame-Options: {xfo or '(none)'}; Content-Security-Policy: {csp or '(none)'}"
    header = RULE_HEADER.get(rule)
    if header:
        value = observed["headers"].get(header)
        return f"{header}: {value}" if value else f"no {header} header"
    if rule.startswith("cors"):
        return "an arbitrary Origin is not trusted"
    return "no finding"


def compare_security(production: Mapping[str, Any], staging: Mapping[str, Any],
                     where: str = "/") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    removed: set[str] = set()
    for header in SECURITY_HEADERS:
        p, s = production["headers"].get(header), staging["headers"].get(header)
        if p and not s:
            removed.add(header)
            out.append(finding(
                "security-header-removed", where, f"{header}: {p}", f"no {header} header",
                f"the promotion would remove {header} from production "
                f"(production: {header}: {p}; staging: no {header} header)", header=header))
        elif s and not p:
            out.append(finding("security-header-added", where, f"no {header} header",
                               f"{header}: {s}", f"staging adds {header}: {s}", header=header))
        elif p and s and p.strip() != s.strip():
            out.append(finding(
                "security-header-changed", where, f"{header}: {p}", f"{header}: {s}",
                f"{header} changes (production: {p}; staging: {s})", header=header))
    prod_found, stag_found = production["findings"], staging["findings"]
    for key in sorted(set(stag_found) - set(prod_found)):
        item = stag_found[key]
        if RULE_HEADER.get(item["rule"]) in removed:
            continue  # already reported as the removed header
        before = _security_value(production, item)
        out.append(finding(
            f"{SECURITY_PREFIX}{item['rule']}", where, before, item["evidence"],
            f"the promotion would bring {item['rule']} to production "
            f"(production: {before}; staging: {item['evidence']})",
            **({"cookie": item["cookie"]} if item["cookie"] else {})))
    for key in sorted(set(prod_found) - set(stag_found)):
        item = prod_found[key]
        after = _security_value(staging, item)
        out.append(finding("security-improved", where, item["evidence"], after,
                           f"staging fixes {item['rule']} (production: {item['evidence']}; "
                           f"staging: {after})", fixed=item["rule"]))
    return out


# ---------------------------------------------------------------- transport


def _describe_key(cert: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC-{key.curve.name}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA-{key.key_size}"
    return type(key).__name__


def _handshake(client: ReadOnlyClient, context: ssl.SSLContext, what: str
               ) -> tuple[bytes | None, str | None]:
    parts = urlsplit(client.base_url)
    host, port = parts.hostname or "", parts.port or 443
    client.spend(f"a TLS handshake ({what}) with {host}:{port}")
    _, der, version = tls_handshake(host, port, context, client.timeout)
    return der, version


def observe_transport(client: ReadOnlyClient) -> dict[str, Any]:
    """TLS protocol, certificate issuer and key type, legacy TLS, the plain-HTTP redirect."""
    if urlsplit(client.base_url).scheme != "https":
        return {"https": False}
    from cryptography import x509

    context = ssl.create_default_context(cafile=ca_file(client.verify))
    if not client.verify:  # --staging-insecure: the run trusts any certificate
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        der, version = _handshake(client, context, "certificate")
    except (OSError, ssl.SSLError) as exc:
        raise ParityCheckError(f"{client.name}: TLS handshake with "
                               f"{strip_credentials(client.base_url)} failed: {describe(exc)}") \
            from None
    issuer, key_type = "(unknown)", "(unknown)"
    if der:
        cert = x509.load_der_x509_certificate(der)
        issuer, key_type = cert.issuer.rfc4514_string(), _describe_key(cert)
    legacy = False
    old = legacy_tls_context()
    if old is not None:
        try:
            _handshake(client, old, "TLS 1.0/1.1")
            legacy = True
        except (OSError, ssl.SSLError):
            legacy = False
    redirect: bool | None = None
    http_url = plain_http_url(client.base_url)
    if http_url:
        try:
            # No query parameters of the compare URL (a token) over plain HTTP; the client
            # sends no credential header to another origin either.
            response = client.get(http_url, allow_redirects=False,
                                  params=dict.fromkeys(client.params), stream=True)
            read_capped(response, 0)  # only the status and Location matter: no body read
            location = response.headers.get("Location", "")
            redirect = response.is_redirect and location.lower().startswith("https://")
        except requests.ConnectionError:
            redirect = True  # nothing served over plain HTTP: nothing to downgrade to
        except requests.RequestException as exc:
            raise ParityCheckError(
                f"{client.name}: {request_failed('GET', http_url, exc)}") from None
    return {"https": True, "protocol": version, "issuer": issuer, "key_type": key_type,
            "legacy": legacy, "redirect": redirect}


def compare_transport(production: Mapping[str, Any], staging: Mapping[str, Any],
                      where: str = "/") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if production.get("https") and not staging.get("https"):
        return [finding("transport-https-missing", where, "https", "plain http",
                        "production is served over HTTPS, staging over plain HTTP: the "
                        "release is not tested as it will be deployed")]
    if not (production.get("https") and staging.get("https")):
        return out
    pairs = (("protocol", "transport-protocol-changed", "negotiated TLS version"),
             ("issuer", "transport-issuer-changed", "certificate issuer"),
             ("key_type", "transport-key-type-changed", "certificate key type"))
    for key, rule, what in pairs:
        p, s = production.get(key), staging.get(key)
        if p != s:
            out.append(finding(rule, where, p, s,
                               f"{what} differs (production: {p}; staging: {s})"))
    if staging.get("legacy") and not production.get("legacy"):
        out.append(finding("transport-legacy-protocol", where, "TLS 1.0/1.1 refused",
                           "TLS 1.0/1.1 accepted",
                           "staging completes a TLS 1.0/1.1 handshake, production does not"))
    if production.get("redirect") is True and staging.get("redirect") is False:
        out.append(finding("transport-https-redirect-missing", where,
                           "plain HTTP redirects to HTTPS", "plain HTTP served without redirect",
                           "production redirects plain HTTP to HTTPS, staging does not"))
    return out


# ---------------------------------------------------------------- api


def observe_api(client: ReadOnlyClient, paths: tuple[str, ...], openapi: str
                ) -> dict[str, Any]:
    """Status, media type and JSON shape of each path; the OpenAPI document's operations."""
    out: dict[str, Any] = {"paths": {}, "openapi": None}
    for path in paths:
        page = fetch(client, path)
        document = _json(page)
        out["paths"][path] = {
            "status": page.status, "content_type": page.content_type,
            "shape": {k: sorted(v) for k, v in shape_of(document).items()}
            if document is not None else None}
    if openapi:
        page = fetch(client, openapi)
        document = _json(page)
        operations = None
        if page.status == 200 and isinstance(document, dict) \
                and isinstance(document.get("paths"), dict):
            operations = sorted(
                f"{method.upper()} {path}" for path, item in document["paths"].items()
                if isinstance(item, dict) for method in item if method in HTTP_METHODS)
        out["openapi"] = {"path": openapi, "status": page.status, "operations": operations}
    return out


def _ok(status: int) -> bool:
    return 200 <= status < 400


def compare_api(production: Mapping[str, Any], staging: Mapping[str, Any]
                ) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path, p in production["paths"].items():
        s = staging["paths"][path]
        ps, ss = p["status"], s["status"]
        if ps != ss:
            if _ok(ps) and ss in (404, 405, 410):
                rule, text = "api-endpoint-removed", f"GET {path} is gone on staging"
            elif ps in (404, 405, 410) and _ok(ss):
                rule, text = "api-endpoint-added", f"GET {path} is new on staging"
            else:
                rule, text = "api-status-changed", f"GET {path} answers differently"
            out.append(finding(rule, path, ps, ss,
                               f"{text} (production: {ps}; staging: {ss})"))
            continue
        if p["content_type"] != s["content_type"]:
            out.append(finding("api-content-type-changed", path, p["content_type"] or "(none)",
                               s["content_type"] or "(none)",
                               f"GET {path} content type changes (production: "
                               f"{p['content_type'] or '(none)'}; staging: "
                               f"{s['content_type'] or '(none)'})"))
            continue
        if p["shape"] is not None and s["shape"] is None:
            out.append(finding("api-type-changed", path, "JSON", "not parseable JSON",
                               f"GET {path}: production answers JSON, staging's body does not "
                               f"parse (production: JSON; staging: not parseable JSON)",
                               field=""))
            continue
        if p["shape"] is None or s["shape"] is None:
            continue
        prod_shape = {k: set(v) for k, v in p["shape"].items()}
        stag_shape = {k: set(v) for k, v in s["shape"].items()}
        removed, added, changed = compare_shapes(prod_shape, stag_shape)
        for key in removed:
            types = "|".join(sorted(prod_shape[key]))
            out.append(finding("api-field-removed", path, f"{key}: {types}", "(absent)",
                               f"GET {path}: field {key} removed (production: {key} "
                               f"{types}; staging: absent)", field=key))
        for key in added:
            types = "|".join(sorted(stag_shape[key]))
            out.append(finding("api-field-added", path, "(absent)", f"{key}: {types}",
                               f"GET {path}: field {key} added (production: absent; "
                               f"staging: {key} {types})", field=key))
        for key, before, after in changed:
            out.append(finding("api-type-changed", path, f"{key}: {before}", f"{key}: {after}",
                               f"GET {path}: field {key} changes type (production: "
                               f"{before}; staging: {after})", field=key))
    p_doc, s_doc = production.get("openapi"), staging.get("openapi")
    if p_doc and s_doc:
        where = p_doc["path"]
        if p_doc["operations"] is not None and s_doc["operations"] is None:
            out.append(finding("api-endpoint-removed", where, p_doc["status"], s_doc["status"],
                               f"the OpenAPI document {where} is gone on staging (production: "
                               f"{p_doc['status']}; staging: {s_doc['status']})"))
        elif p_doc["operations"] is not None and s_doc["operations"] is not None:
            p_ops, s_ops = set(p_doc["operations"]), set(s_doc["operations"])
            for op in sorted(p_ops - s_ops):
                out.append(finding("api-operation-removed", where, op, "(absent)",
                                   f"operation {op} removed from the OpenAPI document",
                                   operation=op))
            for op in sorted(s_ops - p_ops):
                out.append(finding("api-operation-added", where, "(absent)", op,
                                   f"operation {op} added to the OpenAPI document",
                                   operation=op))
    return out


# ---------------------------------------------------------------- version


def dotted(data: Any, name: str) -> tuple[bool, Any]:
    """(found, value) of a dotted field in JSON data."""
    for part in name.split("."):
        if not isinstance(data, dict) or part not in data:
            return False, None
        data = data[part]
    return True, data


def observe_version(client: ReadOnlyClient, version_path: str, version_field: str,
                    health_path: str, fields: tuple[str, ...]) -> dict[str, Any]:
    """The version and the declared fields, from the version JSON (then the health JSON)."""
    page = fetch(client, version_path)
    documents = [_json(page)]
    if fields and health_path != version_path:
        documents.append(_json(fetch(client, health_path)))
    found, version = dotted(documents[0], version_field)
    values: dict[str, Any] = {}
    for name in fields:
        for document in documents:
            hit, value = dotted(document, name)
            if hit:
                values[name] = value
                break
    return {"version": str(version) if found and version is not None else None,
            "status": page.status, "fields": values}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def compare_version(production: Mapping[str, Any], staging: Mapping[str, Any],
                    fields: tuple[str, ...], where: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    p, s = production["version"], staging["version"]
    if p is None or s is None:
        out.append(finding("version-missing", where, p, s,
                           f"no version reported by {'production' if p is None else 'staging'}"
                           f" (production: {p or '(none)'}; staging: {s or '(none)'})"))
    elif p == s:
        out.append(finding("version-identical", where, p, s,
                           f"staging and production both report version {p}"))
    for name in fields:
        in_p, in_s = name in production["fields"], name in staging["fields"]
        pv = _text(production["fields"][name]) if in_p else None
        sv = _text(staging["fields"][name]) if in_s else None
        if in_p and not in_s:
            out.append(finding("config-field-missing", where, pv, None,
                               f"{name} is reported by production ({pv}), not by staging",
                               field=name))
        elif in_p and in_s and pv != sv:
            out.append(finding("config-field-differs", where, pv, sv,
                               f"{name} differs (production: {pv}; staging: {sv})",
                               field=name))
    return out
