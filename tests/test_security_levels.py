"""Rule levels, accepted risks, settings validation and the gate's judgement: plain data."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest
import tomllib

from pytest_staging.gates.security.levels import apply_levels, count_levels, parse_rules
from pytest_staging.gates.security.rules import RULES, finding
from pytest_staging.gates.security.runner import gate_summary, grade_check, judge
from pytest_staging.gates.security.settings import from_section, validate_section
from pytest_staging.policy import PolicyError, load_policy
from pytest_staging.reports.sarif import render_sarif, to_sarif

TODAY = dt.date(2026, 11, 26)
EXAMPLE = Path(__file__).parent.parent / "docs" / "examples" / "security-policy.toml"
SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())


def sample() -> list[dict]:
    return [
        finding("csp-missing", "http://127.0.0.1:1/", "no Content-Security-Policy header"),
        finding("xcto-missing", "http://127.0.0.1:1/", "no X-Content-Type-Options header"),
        finding("coop-missing", "http://127.0.0.1:1/", "no Cross-Origin-Opener-Policy header"),
    ]


def test_default_levels_follow_severity() -> None:
    levels = {f["rule"]: f["level"] for f in apply_levels(sample(), {}, TODAY)}
    assert levels == {"csp-missing": "fail", "xcto-missing": "warn", "coop-missing": "warn"}


def test_policy_levels_and_accepted_risk() -> None:
    rules = parse_rules({
        "coop-missing": "ignore",
        "csp-missing": {"level": "warn", "owner": "alice", "expires": dt.date(2026, 12, 31),
                        "reason": "SEC-12"},
    })
    out = {f["rule"]: f for f in apply_levels(sample(), rules, TODAY)}
    assert out["coop-missing"]["level"] == "ignore"
    assert out["csp-missing"]["level"] == "warn"
    assert out["csp-missing"]["accepted_risk"] == {
        "owner": "alice", "reason": "SEC-12", "expires": "2026-12-31", "expired": False}
    assert count_levels(out.values()) == {"fail": 0, "warn": 2, "info": 0, "ignore": 1}


def test_expired_accepted_risk_fails_again() -> None:
    rules = parse_rules({"csp-missing": {"level": "ignore", "owner": "bob",
                                         "expires": "2026-11-25"}})
    out = apply_levels(sample()[:1], rules, TODAY)[0]
    assert out["level"] == "fail" and out["accepted_risk"]["expired"] is True
    assert "accepted risk expired on 2026-11-25 (owner bob)" in out["evidence"]
    # on its expiry day it still holds
    assert apply_levels(sample()[:1], rules, dt.date(2026, 11, 25))[0]["level"] == "ignore"


@pytest.mark.parametrize(("table", "message"), [
    ({"csp-mising": "warn"}, "csp-mising: unknown rule id"),
    ({"csp-missing": "block"}, "csp-missing: expected one of ignore, info, warn, fail"),
    ({"csp-missing": {"owner": "a"}}, "csp-missing.level: expected one of"),
    ({"csp-missing": {"level": "warn", "until": "x"}}, "csp-missing.until: unknown key"),
    ({"csp-missing": {"level": "warn", "expires": "soon"}}, "csp-missing.expires: expected a date"),
    ({"B602": 3}, "B602: expected a level string or a table"),
])
def test_bad_rules_tables_name_the_key(table: dict, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_rules(table)
    assert message in str(info.value)


def test_bandit_rule_ids_are_accepted() -> None:
    assert parse_rules({"B602": "warn", "B101": "ignore"})["B602"].level == "warn"


def test_settings_defaults_and_errors() -> None:
    settings = from_section({})
    assert settings.builtin == ("headers", "cookies", "transport", "exposure", "cors")
    assert settings.cert_expiry_days == 14 and settings.min_grade == ""
    assert settings.bandit_severity == "medium" and settings.bandit_source == ""
    assert from_section({"bandit.source": "src"}, source_override="/abs").bandit_source == "/abs"
    for section, message in [
        ({"min_grade": "Z"}, "security.min_grade: expected a grade"),
        ({"builtin": ["headers", "tls"]}, "security.builtin: expected a list drawn from"),
        ({"cert_expiry_days": "14"}, "security.cert_expiry_days: expected integer"),
        ({"cert_expiry_days": True}, "security.cert_expiry_days: expected integer"),
        ({"bandit.severity": "severe"}, "security.bandit.severity: expected one of"),
        ({"sensitive_paths": [".env"]}, "security.sensitive_paths: expected an array of paths"),
        ({"colour": "red"}, "security.colour: unknown key"),
    ]:
        with pytest.raises(ValueError) as info:
            validate_section(section, "policy.toml")
        assert str(info.value).startswith("policy.toml: ") and message in str(info.value)


def test_judge_turns_levels_into_checks_and_warnings() -> None:
    findings = apply_levels(sample(), parse_rules({"coop-missing": "info"}), TODAY)
    checks, warnings = judge("headers", findings)
    assert [(c["name"], c["passed"], c["blocking"]) for c in checks] == [
        ("headers: csp-missing", False, True)]
    assert len(warnings) == 1 and "xcto-missing" in warnings[0]
    checks, warnings = judge("headers", [])
    assert checks == [{"name": "headers", "passed": True, "blocking": True,
                       "detail": "no failures"}] and warnings == []


def test_gate_summary_grades_http_findings_only() -> None:
    bandit = {"rule": "B602", "family": "bandit", "level": "fail", "severity": "high"}
    findings = [*apply_levels(sample(), {}, TODAY), bandit]
    summary = gate_summary(findings, "A")
    assert summary["score"] == 100 - RULES["csp-missing"].penalty - RULES["xcto-missing"].penalty
    assert summary["grade"] == "B" and summary["counts"]["fail"] == 2
    check = grade_check(summary)
    assert check["passed"] is False and check["detail"] == \
        "grade B (70/100), minimum A: below the minimum"
    ignored = apply_levels(sample(), parse_rules({"csp-missing": "ignore"}), TODAY)
    assert gate_summary(ignored)["score"] == 95 and grade_check(gate_summary(ignored))["passed"]


def test_sarif_validates_against_the_schema() -> None:
    http = apply_levels(sample(), parse_rules({
        "coop-missing": "ignore",
        "xcto-missing": {"level": "warn", "owner": "alice", "expires": "2027-01-01"}}), TODAY)
    bandit = {"rule": "B602", "family": "bandit", "severity": "high", "level": "fail",
              "title": "subprocess_popen_with_shell_equals_true: shell=True", "url": "",
              "evidence": "src/app.py:5: shell", "fix": "https://bandit.readthedocs.io/x.html",
              "file": "src/app.py", "line": 5, "test_id": "B602", "cwe": "CWE-78"}
    log = to_sarif([*http, bandit], version="0.1.0", bandit_version="1.9.4")
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    staging, source = log["runs"]
    assert [r["ruleId"] for r in staging["results"]] == ["csp-missing", "xcto-missing"]
    assert staging["results"][0]["level"] == "error"
    assert staging["results"][1]["suppressions"][0]["status"] == "accepted"
    result = source["results"][0]
    assert result["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "src/app.py", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 5}}
    assert "external/cwe/cwe-78" in source["tool"]["driver"]["rules"][0]["properties"]["tags"]


def test_sarif_schema_rejects_a_broken_log() -> None:
    log = to_sarif(sample())
    del log["runs"][0]["tool"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(SCHEMA).validate(log)


def test_render_sarif_from_a_verdict() -> None:
    verdict = {"run": {"versions": {"pytest_staging": "0.1.0"}},
               "gates": {"security": {"findings": sample()}, "integration": {"findings": []}}}
    text = render_sarif(verdict)
    assert text is not None
    jsonschema.Draft4Validator(SCHEMA).validate(json.loads(text))
    assert render_sarif({"gates": {"security": {"findings": []}}}) is None


def test_policy_example_in_docs_is_valid() -> None:
    data = tomllib.loads(EXAMPLE.read_text())
    section = data["security"]
    flat = {k: v for k, v in section.items() if k != "bandit"}
    flat.update({f"bandit.{k}": v for k, v in section.get("bandit", {}).items()})
    settings = from_section(flat)
    assert settings.min_grade == "B" and settings.rules["csp-missing"].owner
    # and the project's own policy loader accepts the same file
    policy = load_policy(EXAMPLE)
    assert policy["security.min_grade"] == "B"
    assert policy["security.bandit.baseline"] == "bandit-baseline.json"
    assert from_section(policy.section("security")) == settings


def test_policy_loader_rejects_bad_security_keys(tmp_path: Path) -> None:
    bad = tmp_path / "policy.toml"
    for text, message in [
        ('[security]\nmin_grade = "Z"\n', "security.min_grade: expected a grade"),
        ('[security]\ncolour = 1\n', "security.colour: unknown key"),
        ('[security.bandit]\nseverity = "x"\n', "security.bandit.severity: expected one of"),
        ('[security.rules]\nB602 = "later"\n', "security.rules: B602: expected one of"),
    ]:
        bad.write_text(text)
        with pytest.raises(PolicyError) as info:
            load_policy(bad)
        assert str(info.value).startswith(f"{bad}: ") and message in str(info.value)


def test_accepted_risk_terminal_lines_over_every_gate() -> None:
    """Accepted risks of the parity and contract gates (the same rule_levels) are shown the
    same way; a rule id is matched whole (security-csp-missing is not csp-missing)."""
    import datetime as dt

    from pytest_staging.gates.security.accepted import terminal_lines

    risk = {"owner": "dana", "expires": "2030-01-31", "reason": "", "expired": False}
    verdict = {"gates": {
        "parity": {"findings": [{"rule": "security-header-removed", "level": "warn",
                                 "url": "/", "accepted_risk": risk}]},
        "contract": {"findings": [{"rule": "content_type_conformance", "level": "warn",
                                   "accepted_risk": {**risk, "owner": "eve"}}]},
    }}
    warnings = ["parity: security: security-header-removed: the promotion would remove HSTS",
                "parity: security: security-security-header-removed-x: not this one",
                "contract: GET /a: content_type_conformance: Undocumented Content-Type",
                "contract: GET /b: status_code_conformance: Undocumented status"]
    ordinary, lines = terminal_lines(verdict, warnings, today=dt.date(2030, 1, 30))
    assert ordinary == [warnings[1], warnings[3]]
    assert lines == [
        (f"accepted risk (owner dana, expires 2030-01-31 (in 1 day)): {warnings[0]}", False),
        (f"accepted risk (owner eve, expires 2030-01-31 (in 1 day)): {warnings[2]}", False)]
    assert terminal_lines({"gates": {}}, warnings) == (warnings, [])
