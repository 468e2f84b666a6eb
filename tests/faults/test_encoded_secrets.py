"""Issue 10, class 12: secrets in encoded forms and in live logs.

A known secret that the target echoes percent-encoded, JSON-escaped or in base64 (alone or
inside a larger blob, at any byte alignment) is masked in the terminal, JUnit, the verdict
files and the step summary; ``--log-cli-level=DEBUG`` / ``--log-file`` lines of urllib3 are
masked too; a malformed ``--staging-header`` never echoes its value.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from harness import assert_no_go, run_staging
from servers import LoopbackServer, Request

from pytest_staging.log_redaction import LogRedaction
from pytest_staging.redact import MASK, Redactor

#: Characters that every encoding changes: quote, slash, plus, space, non-ASCII.
HEADER_SECRET = 'Zq9"tök/en+ x&=Wv7'
QUERY_SECRET = "qk4-Mv8pR2sT"


def forms(secret: str) -> dict[str, str]:
    """Each way a target may send ``secret`` back, by name."""
    raw = secret.encode()
    out = {
        "raw": secret,
        "quote": quote(secret, safe=""),
        "quote-slash": quote(secret),
        "quote_plus": quote_plus(secret),
        "quote-lower-hex": re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(),
                                  quote(secret, safe="")),
        "json-ascii": json.dumps(secret)[1:-1],
        "json-utf8": json.dumps(secret, ensure_ascii=False)[1:-1],
        "base64": base64.b64encode(raw).decode(),
        "base64url": base64.urlsafe_b64encode(raw).decode(),
    }
    for offset in range(3):
        # Inside a larger blob (a JWT payload, a cookie): only the stable middle is known.
        blob = base64.b64encode(b"{'p':" [:offset + 2] + raw + b"' , 'exp': 1}").decode()
        out[f"base64-embedded-{offset}"] = blob
    return out


def stable_middle(secret: str, offset: int) -> str:
    """The part of the embedded base64 that comes from the secret alone (what must vanish)."""
    raw = secret.encode()
    prefix = b"{'p':"[:offset + 2]
    blob = base64.b64encode(prefix + raw + b"' , 'exp': 1}").decode()
    start = -(-len(prefix) * 8 // 6) + 1
    end = (len(prefix) + len(raw)) * 8 // 6 - 1
    return blob[start:end]


@pytest.mark.parametrize("name", list(forms(HEADER_SECRET)))
def test_every_encoded_form_is_masked(name: str) -> None:
    redactor = Redactor([HEADER_SECRET])
    text = forms(HEADER_SECRET)[name]
    masked = redactor.text(f"before {text} after")
    assert MASK in masked
    if name.startswith("base64-embedded"):
        assert stable_middle(HEADER_SECRET, int(name[-1])) not in masked
    else:
        assert text not in masked


def test_short_base64_runs_are_not_masked_everywhere() -> None:
    redactor = Redactor(["abcd"])
    assert redactor.text("the base64 of ordinary words stays readable") == \
        "the base64 of ordinary words stays readable"


def test_log_records_are_masked_and_the_factory_restored() -> None:
    redactor = Redactor([HEADER_SECRET])
    before = logging.getLogRecordFactory()
    hook = LogRedaction(redactor)
    try:
        record = logging.getLogger("urllib3.connectionpool").makeRecord(
            "urllib3.connectionpool", logging.DEBUG, __file__, 1,
            '%s "%s %s" %s', ("http://127.0.0.1:1", "GET", "/a?api_key=zz99yy88&page=2", 200),
            None)
        record2 = logging.getLogger("x").makeRecord("x", logging.INFO, __file__, 1, "token %s",
                                                    (quote_plus(HEADER_SECRET),), None)
    finally:
        hook.restore()
    assert logging.getLogRecordFactory() is before
    assert "zz99yy88" not in record.getMessage() and "page=2" in record.getMessage()
    assert quote_plus(HEADER_SECRET) not in record2.getMessage()


def echo_everything(req: Request) -> tuple[int, dict[str, str], bytes]:
    secret = req.headers.get("X-Api-Key", "")
    body = "\n".join(f"{name}: {text}" for name, text in forms(secret).items())
    return 500, {"Content-Type": "text/plain; charset=utf-8",
                 "X-Echo": quote(secret, safe="")}, body.encode()


SUITE = """
import logging

def test_echo(staging):
    response = staging.get("/api/echo")
    print(response.text)
    logging.getLogger("suite").warning("echo said %s", response.text)
    assert response.status_code == 200, response.text
"""


def test_encoded_secrets_never_reach_any_output(pytester: pytest.Pytester,
                                                server: LoopbackServer, mode: list[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    server.routes["/api/echo"] = echo_everything
    monkeypatch.setenv("HARDENING_TOKEN", HEADER_SECRET)
    summary = pytester.path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    pytester.makepyfile(test_app=SUITE)
    outcome = run_staging(
        pytester, f"{server.url}?api_key={QUERY_SECRET}", *mode,
        "--staging-header", "X-Api-Key: $HARDENING_TOKEN",
        "--junitxml", "junit.xml", "-o", "junit_logging=all",
        "-o", "log_cli=true", "--log-cli-level=DEBUG", "--log-file", "run.log",
        "--log-file-level=DEBUG")
    assert_no_go(outcome, r"test_echo failed")
    log_file = pytester.path / "run.log"
    outputs = {"terminal": outcome.output, "junit.xml": (pytester.path / "junit.xml").read_text(),
               "step summary": summary.read_text(encoding="utf-8")}
    if log_file.exists():
        outputs["run.log"] = log_file.read_text(encoding="utf-8")
    for path in outcome.report_dir.iterdir():
        outputs[path.name] = path.read_text(encoding="utf-8")
    assert "verdict.md" in outputs and "run.log" in outputs
    # The echo really happened (else nothing was tested), and urllib3 really logged.
    assert "base64-embedded-2" in outputs["verdict.json"] or "X-Echo" in outputs["verdict.json"]
    assert "/api/echo?api_key=" in outputs["run.log"]
    for secret in (HEADER_SECRET, QUERY_SECRET):
        for name, text in forms(secret).items():
            needle = stable_middle(secret, int(name[-1])) if name.startswith(
                "base64-embedded") else text
            for where, content in outputs.items():
                # JUnit is XML: the form may sit there escaped as an entity.
                escaped = needle.replace("&", "&amp;").replace('"', "&quot;")
                assert needle not in content and escaped not in content, (
                    f"{secret!r} as {name} in {where}")


def test_malformed_header_never_echoes_its_value(pytester: pytest.Pytester,
                                                 server: LoopbackServer) -> None:
    pytester.makepyfile(test_app="def test_a(staging):\n    pass\n")
    token = "ghp_" + "A1b2C3d4E5f6G7h8"
    for raw in (f"Authorization Bearer {token}", f"Bearer{token}", f"X Token {token}"):
        outcome = run_staging(pytester, server.url, "--staging-header", raw)
        assert_no_go(outcome, r"--staging-header must look like", exit_code=4)
        written = "".join(p.read_text() for p in Path(outcome.report_dir).iterdir())
        for part in (token, token[:8], "Bearer"):
            assert part not in outcome.output.replace(raw, "") and part not in written, part
