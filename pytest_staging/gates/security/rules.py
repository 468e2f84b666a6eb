"""The catalogue of security rules: stable ids, severity, score penalty, title and fix hint.

A rule id never changes once released: policies (``[security.rules]``), baselines and SARIF
consumers key on it. Ids are bare TOML keys (lowercase, digits, dashes) so a policy needs no
quoting. bandit findings use bandit's own test ids (``B602``) as rule ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

LEVELS: tuple[str, ...] = ("ignore", "info", "warn", "fail")
#: The level a finding gets when the policy says nothing about its rule.
DEFAULT_LEVEL: dict[str, str] = {"high": "fail", "medium": "fail", "low": "warn", "info": "info"}
BANDIT_RULE = re.compile(r"^B\d{3}$")


@dataclass(frozen=True)
class Rule:
    """One passive HTTP rule."""

    id: str
    family: str
    severity: str
    penalty: int
    title: str
    fix: str


_RULES: tuple[Rule, ...] = (
    # headers
    Rule("csp-missing", "headers", "medium", 25,
         "Content-Security-Policy header missing",
         "Send a Content-Security-Policy with at least default-src or script-src, "
         "e.g. \"default-src 'self'; frame-ancestors 'none'\""),
    Rule("csp-unsafe-inline", "headers", "medium", 20,
         "Content-Security-Policy allows 'unsafe-inline' scripts",
         "Remove 'unsafe-inline' from script-src/default-src; use nonces or hashes"),
    Rule("csp-unsafe-eval", "headers", "medium", 10,
         "Content-Security-Policy allows 'unsafe-eval'",
         "Remove 'unsafe-eval' from script-src/default-src"),
    Rule("csp-no-script-src", "headers", "medium", 20,
         "Content-Security-Policy restricts neither default-src nor script-src",
         "Add default-src 'self' (or an explicit script-src) to the policy"),
    Rule("hsts-missing", "headers", "medium", 20,
         "Strict-Transport-Security header missing on an HTTPS response",
         "Send Strict-Transport-Security: max-age=63072000; includeSubDomains"),
    Rule("hsts-short-max-age", "headers", "low", 10,
         "Strict-Transport-Security max-age shorter than six months",
         "Set max-age to at least 15552000 seconds (six months)"),
    Rule("xcto-missing", "headers", "low", 5,
         "X-Content-Type-Options: nosniff missing",
         "Send X-Content-Type-Options: nosniff"),
    Rule("clickjacking-unprotected", "headers", "medium", 20,
         "No clickjacking protection (X-Frame-Options or CSP frame-ancestors)",
         "Send X-Frame-Options: DENY or a CSP with frame-ancestors 'none' or 'self'"),
    Rule("referrer-policy-missing", "headers", "low", 0,
         "Referrer-Policy header missing",
         "Send Referrer-Policy: strict-origin-when-cross-origin (or no-referrer)"),
    Rule("referrer-policy-unsafe", "headers", "low", 5,
         "Referrer-Policy leaks full URLs to other origins",
         "Use strict-origin-when-cross-origin, same-origin or no-referrer"),
    Rule("coop-missing", "headers", "low", 0,
         "Cross-Origin-Opener-Policy header missing",
         "Send Cross-Origin-Opener-Policy: same-origin"),
    Rule("corp-missing", "headers", "low", 0,
         "Cross-Origin-Resource-Policy header missing",
         "Send Cross-Origin-Resource-Policy: same-origin (or same-site)"),
    # cookies
    Rule("cookie-no-secure", "cookies", "medium", 20,
         "Cookie set without the Secure flag over HTTPS",
         "Add the Secure attribute to every cookie set by an HTTPS site"),
    Rule("cookie-no-httponly", "cookies", "medium", 20,
         "Session cookie readable by scripts (no HttpOnly)",
         "Add the HttpOnly attribute to session and authentication cookies"),
    Rule("cookie-no-samesite", "cookies", "low", 5,
         "Cookie set without a SameSite attribute",
         "Add SameSite=Lax (or Strict) to the cookie"),
    # transport
    Rule("https-redirect-missing", "transport", "medium", 20,
         "Plain HTTP is served without a redirect to HTTPS",
         "Answer every http:// request with a 301/308 redirect to the https:// URL"),
    Rule("tls-cert-invalid", "transport", "high", 40,
         "TLS certificate does not verify",
         "Serve a certificate issued by a trusted CA for this host name "
         "(or pass the private CA with --staging-ca-bundle)"),
    Rule("tls-cert-expiring", "transport", "medium", 10,
         "TLS certificate expires soon",
         "Renew the certificate (automate renewal, e.g. ACME)"),
    Rule("tls-legacy-protocol", "transport", "high", 20,
         "Server accepts TLS older than 1.2",
         "Disable SSLv3, TLS 1.0 and TLS 1.1; allow only TLS 1.2 and 1.3"),
    # exposure
    Rule("version-banner", "exposure", "low", 5,
         "Server or X-Powered-By header discloses software versions",
         "Remove version numbers from Server and drop X-Powered-By"),
    Rule("sensitive-path-exposed", "exposure", "high", 40,
         "A sensitive file or page is publicly readable",
         "Block the path at the web server and remove the file from the document root"),
    Rule("directory-listing", "exposure", "medium", 20,
         "Directory listing is enabled",
         "Disable automatic directory indexes (autoindex off / Options -Indexes)"),
    Rule("error-stack-trace", "exposure", "medium", 20,
         "Error page discloses a stack trace",
         "Serve generic error pages; log details server-side only"),
    Rule("debug-mode-page", "exposure", "high", 40,
         "An interactive debugger or framework debug page is exposed",
         "Turn debug mode off in the deployed configuration"),
    # cors
    Rule("cors-wildcard-credentials", "cors", "high", 50,
         "CORS allows any origin together with credentials",
         "Never combine Access-Control-Allow-Origin: * with Allow-Credentials: true; "
         "list trusted origins explicitly"),
    Rule("cors-reflected-origin", "cors", "medium", 30,
         "CORS reflects an arbitrary Origin",
         "Check Origin against an allow-list instead of echoing it back"),
    Rule("cors-reflected-origin-credentials", "cors", "high", 50,
         "CORS reflects an arbitrary Origin and allows credentials",
         "Check Origin against an allow-list; never echo it with Allow-Credentials: true"),
)

RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}
FAMILIES: tuple[str, ...] = ("headers", "cookies", "transport", "exposure", "cors")


def is_known_rule(rule_id: str) -> bool:
    """Whether ``rule_id`` names a passive HTTP rule or a bandit test id (``B101``...)."""
    return rule_id in RULES or bool(BANDIT_RULE.match(rule_id))


def finding(rule_id: str, url: str, evidence: str, **extra: Any) -> dict[str, Any]:
    """A finding dict for catalogue rule ``rule_id`` (level still unset: see ``levels``)."""
    rule = RULES[rule_id]
    out: dict[str, Any] = {
        "rule": rule.id,
        "family": rule.family,
        "severity": rule.severity,
        "level": DEFAULT_LEVEL[rule.severity],
        "title": rule.title,
        "url": url,
        "evidence": evidence,
        "fix": rule.fix,
    }
    out.update(extra)
    return out
