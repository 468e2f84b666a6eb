"""Redaction: no secret survives into any output."""

from __future__ import annotations

from pytest_staging.redact import MASK, Redactor, redact_data, strip_credentials
from pytest_staging.settings import SettingsError, expand_header


def test_known_secrets_are_masked_in_text() -> None:
    redactor = Redactor(["s3cr3t-token"])
    assert redactor.text("Authorization: Bearer s3cr3t-token!") == f"Authorization: Bearer {MASK}!"


def test_short_values_are_not_treated_as_secrets() -> None:
    redactor = Redactor(["ab"])
    assert redactor.text("abc") == "abc"


def test_url_credentials_and_query_tokens() -> None:
    redactor = Redactor()
    url = "https://deploy:hunter22@staging.test/api?token=abcdef123&page=2"
    masked = redactor.url(url)
    assert "hunter22" not in masked and "abcdef123" not in masked
    assert masked.startswith("https://deploy:***@staging.test/api?")
    assert "page=2" in masked
    # Once seen, the values are masked in free text too.
    assert redactor.text("got hunter22 and abcdef123") == f"got {MASK} and {MASK}"


def test_bare_userinfo_token() -> None:
    redactor = Redactor()
    assert redactor.url("https://ghp_abcdef@host.test/") == f"https://{MASK}@host.test/"
    assert strip_credentials("https://u:p@host.test:8443/x") == "https://host.test:8443/x"


def test_headers_by_name_and_value() -> None:
    redactor = Redactor(["topsecretvalue"])
    out = redactor.headers({"Authorization": "Bearer x", "X-Api-Key": "k", "Accept": "*/*",
                            "X-Echo": "topsecretvalue"})
    assert out == {"Authorization": MASK, "X-Api-Key": MASK, "Accept": "*/*", "X-Echo": MASK}


def test_redact_data_is_deep() -> None:
    redactor = Redactor(["topsecretvalue"])
    data = {"a": ["x topsecretvalue", {"topsecretvalue": 1}], "n": 3}
    assert redact_data(data, redactor) == {"a": [f"x {MASK}", {MASK: 1}], "n": 3}


def test_header_expansion_registers_secrets() -> None:
    name, value, secrets = expand_header("Authorization: Bearer $TOKEN", {"TOKEN": "tok-123456"})
    assert (name, value) == ("Authorization", "Bearer tok-123456")
    assert "tok-123456" in secrets and "Bearer tok-123456" in secrets
    name, value, secrets = expand_header("X-Tenant: ${TENANT}-eu", {"TENANT": "acme"})
    assert value == "acme-eu" and secrets == {"acme"}


def test_header_expansion_errors() -> None:
    for raw, message in [("NoColon", "must look like 'Name: value'"),
                         ("X-A: $MISSING", "$MISSING is not set")]:
        try:
            expand_header(raw, {})
        except SettingsError as exc:
            assert message in str(exc)
        else:
            raise AssertionError(f"{raw!r} was accepted")
