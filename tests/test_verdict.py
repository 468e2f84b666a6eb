"""decide() as a plain function: every rule of CONTRACT section 5, no pytest run needed."""

from __future__ import annotations

from pytest_staging.schema import validation_errors
from pytest_staging.verdict import (
    GateSpec,
    RunFacts,
    TargetFacts,
    TestRecord,
    decide,
    placeholder,
)

GATES = [GateSpec("integration"), GateSpec("security"), GateSpec("performance")]


def facts(**changes: object) -> RunFacts:
    """A run where everything went right; each test changes one thing."""
    base = RunFacts(
        run_id="abc", started="2026-11-26T00:00:00Z", finished="2026-11-26T00:00:05Z",
        duration=5.0, exit_status=0, complete=True,
        target=TargetFacts(url="https://staging.example.test/", reachable=True, ready=True,
                           ready_after=0.1),
        gates=list(GATES),
        tests=[TestRecord("t.py::test_api", "integration"),
               TestRecord("t.py::test_headers", "security"),
               TestRecord("t.py::test_load", "performance")],
    )
    for name, value in changes.items():
        setattr(base, name, value)
    return base


def test_all_good_is_go_and_valid() -> None:
    verdict = decide(facts())
    assert verdict["verdict"] == "GO"
    assert verdict["reasons"] == []
    assert [g["status"] for g in verdict["gates"].values()] == ["passed"] * 3
    assert validation_errors(verdict) == []


def test_blocking_failure_names_the_test() -> None:
    tests = facts().tests
    tests[0].outcome, tests[0].message = "failed", "assert 500 == 200"
    verdict = decide(facts(tests=tests, exit_status=1))
    assert verdict["verdict"] == "NO-GO"
    assert verdict["reasons"] == ["integration: t.py::test_api failed: assert 500 == 200"]
    assert verdict["gates"]["integration"]["status"] == "failed"
    assert verdict["gates"]["integration"]["failures"][0]["blocking"] is True
    assert validation_errors(verdict) == []


def test_setup_error_is_error_status() -> None:
    tests = facts().tests
    tests[1].outcome, tests[1].message = "error", "fixture 'login' failed"
    verdict = decide(facts(tests=tests))
    assert verdict["verdict"] == "NO-GO"
    assert verdict["gates"]["security"]["status"] == "error"
    assert "security: t.py::test_headers errored: fixture 'login' failed" in verdict["reasons"]


def test_advisory_test_failure_is_a_warning() -> None:
    tests = facts().tests
    tests.append(TestRecord("t.py::test_beta", "integration", outcome="failed", blocking=False,
                            message="boom"))
    verdict = decide(facts(tests=tests, exit_status=1))
    assert verdict["verdict"] == "GO"
    assert verdict["warnings"] == ["integration: would have blocked: t.py::test_beta failed: boom"]
    assert verdict["gates"]["integration"]["status"] == "advisory"


def test_a_failed_check_of_an_advisory_test_is_a_warning() -> None:
    """An advisory test never blocks, nor do the checks it records (a built-in security item
    under [security] builtin_blocking = false, an advisory load test's thresholds); the same
    check of a blocking test does."""
    check = {"name": "headers: csp-missing", "passed": False, "blocking": True,
             "detail": "no Content-Security-Policy header",
             "nodeid": "staging-security::headers"}
    tests = [*facts().tests, TestRecord("staging-security::headers", "security",
                                        outcome="failed", blocking=False, message="csp")]
    verdict = decide(facts(tests=tests, gate_data={"security": {"checks": [check]}}))
    assert verdict["verdict"] == "GO", verdict["reasons"]
    assert ("security: would have blocked: headers: csp-missing: no Content-Security-Policy "
            "header") in verdict["warnings"]
    tests[-1].blocking = True
    verdict = decide(facts(tests=tests, gate_data={"security": {"checks": [check]}}))
    assert verdict["reasons"] == [
        "security: headers: csp-missing: no Content-Security-Policy header"]


def test_advisory_gate_failure_is_a_warning() -> None:
    gates = [*GATES, GateSpec("smoke", blocking=False, min_tests=0)]
    tests = [*facts().tests, TestRecord("t.py::test_smoke", "smoke", outcome="failed")]
    verdict = decide(facts(gates=gates, tests=tests))
    assert verdict["verdict"] == "GO"
    assert verdict["gates"]["smoke"]["status"] == "advisory"
    assert verdict["gates"]["smoke"]["blocking"] is False


def test_empty_blocking_gate_is_no_go() -> None:
    tests = [t for t in facts().tests if t.gate != "performance"]
    verdict = decide(facts(tests=tests))
    assert verdict["verdict"] == "NO-GO"
    assert verdict["gates"]["performance"]["status"] == "empty"
    assert verdict["reasons"][0].startswith("performance: gate ran 0 test(s), needs at least 1")


def test_min_tests_counts_only_tests_that_ran() -> None:
    tests = facts().tests
    tests[0].outcome = "skipped"
    verdict = decide(facts(tests=tests))
    assert verdict["verdict"] == "NO-GO"
    assert verdict["gates"]["integration"]["status"] == "empty"


def test_no_test_at_all_is_no_go_even_with_min_tests_zero() -> None:
    gates = [GateSpec(g.name, min_tests=0) for g in GATES]
    verdict = decide(facts(gates=gates, tests=[]))
    assert verdict["verdict"] == "NO-GO"
    assert verdict["reasons"] == ["no test ran"]


def test_unready_target_is_the_reason_not_the_empty_gates() -> None:
    target = TargetFacts(url="https://x.test/", ready=False,
                         not_ready_reason="target not ready after 30.0s: connection refused")
    verdict = decide(facts(target=target, tests=[]))
    assert verdict["verdict"] == "NO-GO"
    assert verdict["reasons"] == ["target not ready after 30.0s: connection refused"]


def test_interruption_internal_error_lost_worker_collection_error() -> None:
    cases = {
        "interrupted": ("KeyboardInterrupt (Ctrl-C)", "run interrupted: KeyboardInterrupt"),
        "internal_error": ("boom", "internal error: boom"),
        "workers_lost": (["gw1: crashed"], "xdist worker lost: gw1: crashed"),
        "collection_errors": (["t.py: SyntaxError"], "collection error: t.py: SyntaxError"),
        "plugin_errors": (["x: ValueError"], "pytest-staging failed: x: ValueError"),
        "usage_errors": (["bad policy"], "bad policy"),
    }
    for field_name, (value, expected) in cases.items():
        verdict = decide(facts(**{field_name: value}))
        assert verdict["verdict"] == "NO-GO", field_name
        assert any(r.startswith(expected) for r in verdict["reasons"]), verdict["reasons"]


def test_incomplete_run_or_odd_exit_status_is_no_go() -> None:
    assert decide(facts(complete=False))["reasons"] == ["the run did not finish normally"]
    assert decide(facts(exit_status=3))["reasons"] == ["pytest ended with exit status 3"]


def test_version_rules() -> None:
    def target(**kw: object) -> TargetFacts:
        return TargetFacts(url="https://x.test/", reachable=True, ready=True, **kw)  # type: ignore[arg-type]

    ok = decide(facts(target=target(expected_version="1.2", version_start="1.2",
                                    version_end="1.2")))
    assert ok["verdict"] == "GO"
    assert ok["target"]["observed_version"] == {"start": "1.2", "end": "1.2"}
    wrong = decide(facts(target=target(expected_version="1.2", version_start="1.3",
                                       version_end="1.3")))
    assert wrong["reasons"] == ["version mismatch at start: expected 1.2, observed 1.3"]
    moved = decide(facts(target=target(expected_version="1.2", version_start="1.2",
                                       version_end="1.3")))
    assert moved["reasons"] == ["version mismatch at end: expected 1.2, observed 1.3",
                                "version changed during the run: 1.2 -> 1.3 (a redeploy?)"]
    drift = decide(facts(target=target(version_start="1.2", version_end="1.3")))
    assert drift["verdict"] == "NO-GO"
    unseen = decide(facts(target=target(expected_version="1.2", version_error="no answer")))
    assert unseen["reasons"] == ["version 1.2 expected but not observed: no answer"]


def test_flaky_policy() -> None:
    tests = facts().tests
    tests[0].flaky = True
    warn = decide(facts(tests=tests, flaky_policy="warn"))
    assert warn["verdict"] == "GO"
    assert warn["warnings"] == ["integration: flaky (passed only on retry): t.py::test_api"]
    assert warn["gates"]["integration"]["counts"]["flaky"] == 1
    fail = decide(facts(tests=tests, flaky_policy="fail"))
    assert fail["verdict"] == "NO-GO"
    assert fail["reasons"] == ["integration: flaky (passed only on retry): t.py::test_api"]


def test_checks_from_gate_data() -> None:
    data = {"performance": {"checks": [
        {"name": "p95 < 300ms", "passed": False, "blocking": True, "detail": "observed 412ms"},
        {"name": "avg < 100ms", "passed": False, "blocking": False, "detail": "observed 120ms"},
        {"name": "rps > 10", "passed": True, "blocking": True, "detail": "observed 90"},
    ], "metrics": {"load": {"p95": 412.0}}, "warnings": ["load overlapped other tests"]}}
    verdict = decide(facts(gate_data=data))
    assert verdict["reasons"] == ["performance: p95 < 300ms: observed 412ms"]
    assert "performance: would have blocked: avg < 100ms: observed 120ms" in verdict["warnings"]
    assert "load overlapped other tests" in verdict["warnings"]
    assert verdict["gates"]["performance"]["metrics"] == {"load": {"p95": 412.0}}
    assert validation_errors(verdict) == []


def test_long_failure_lists_are_capped() -> None:
    tests = [TestRecord(f"t.py::test_{i}", "integration", outcome="failed") for i in range(25)]
    verdict = decide(facts(tests=[*tests, *facts().tests[1:]]))
    listed = [r for r in verdict["reasons"] if r.startswith("integration:")]
    assert len(listed) == 11
    assert listed[-1] == "integration: ... and 15 more"


def test_destructive_and_insecure_are_warnings() -> None:
    verdict = decide(facts(destructive_skipped=["t.py::test_drop"], insecure=True))
    assert verdict["verdict"] == "GO"
    assert verdict["destructive_skipped"] == ["t.py::test_drop"]
    assert any("destructive" in w for w in verdict["warnings"])
    assert any("--staging-insecure" in w for w in verdict["warnings"])


def test_placeholder_is_no_go_and_valid() -> None:
    verdict = placeholder("run in progress (no verdict yet)")
    assert verdict["verdict"] == "NO-GO"
    assert validation_errors(verdict) == []


def test_schema_rejects_go_with_reasons() -> None:
    verdict = decide(facts())
    verdict["reasons"] = ["something"]
    assert validation_errors(verdict)


def test_a_failed_test_explained_by_its_checks_is_one_reason() -> None:
    tests = facts().tests
    tests[2].outcome, tests[2].message = "failed", "Failed: p95 = 410 ms, required < 250 ms"
    data = {"performance": {"checks": [
        {"name": "p95 < 250ms", "passed": False, "blocking": True,
         "detail": "p95 = 410 ms, required < 250 ms", "nodeid": "t.py::test_load"}]}}
    verdict = decide(facts(tests=tests, gate_data=data))
    assert verdict["reasons"] == ["performance: p95 < 250ms: p95 = 410 ms, required < 250 ms"]
    assert verdict["gates"]["performance"]["failures"][0]["nodeid"] == "t.py::test_load"
    assert verdict["gates"]["performance"]["status"] == "failed"


# -- the judgement: failed (evidence) vs inconclusive (could not judge) ----------------------
def _failed(index: int, outcome: str = "failed") -> list[TestRecord]:
    tests = facts().tests
    tests[index].outcome, tests[index].message = outcome, "boom"
    return tests


def _check(passed: bool = False, **extra: object) -> dict[str, object]:
    return {"name": "p95 < 250ms", "passed": passed, "blocking": True,
            "detail": "p95 = 410 ms", **extra}


def test_judgement_of_each_kind_of_fact() -> None:
    """GO is passed; a blocking test or check that failed is failed; every other NO-GO is
    inconclusive (nothing in it says the release is bad)."""
    not_ready = TargetFacts(url="https://s.test/", reachable=False, ready=False,
                            not_ready_reason="target not ready: connection refused")
    flaky = facts().tests
    flaky[0].flaky = True
    cases: dict[str, tuple[RunFacts, str]] = {
        "go": (facts(), "passed"),
        "failed test": (facts(tests=_failed(0)), "failed"),
        "errored test": (facts(tests=_failed(1, "error")), "failed"),
        "failed check": (facts(gate_data={"performance": {"checks": [_check()]}}), "failed"),
        "signal": (facts(signals=["SIGTERM"], complete=False), "inconclusive"),
        "internal error": (facts(internal_error="boom", exit_status=3), "inconclusive"),
        "usage error": (facts(usage_errors=["usage error: bad"]), "inconclusive"),
        "plugin error": (facts(plugin_errors=["report: boom"]), "inconclusive"),
        "report not written": (facts(output_errors=["cannot write"]), "inconclusive"),
        "lost worker": (facts(workers_lost=["gw1: crashed"]), "inconclusive"),
        "collection error": (facts(collection_errors=["t.py: SyntaxError"]), "inconclusive"),
        "target not ready": (facts(target=not_ready, tests=[]), "inconclusive"),
        "version drift": (facts(target=TargetFacts(
            url="https://s.test/", reachable=True, ready=True, expected_version="2",
            version_start="1", version_end="1")), "inconclusive"),
        "empty gate": (facts(tests=facts().tests[:2]), "inconclusive"),
        "incomplete": (facts(tests=_failed(0, "incomplete")), "inconclusive"),
        "flaky, policy fail": (facts(tests=flaky, flaky_policy="fail"), "inconclusive"),
        "could-not-judge check": (facts(gate_data={"performance": {"checks": [
            _check(inconclusive=True)]}}), "inconclusive"),
        "advisory failure, --staging-fail-on=warn": (facts(
            tests=[*facts().tests, TestRecord("t.py::test_new", "integration", "failed",
                                              blocking=False)], fail_on="warn"),
            "inconclusive"),
    }
    for name, (run, expected) in cases.items():
        verdict = decide(run)
        assert verdict["judgement"] == expected, (name, verdict["reasons"])
        assert (verdict["verdict"] == "GO") == (expected == "passed"), name
        assert validation_errors(verdict) == [], name


def test_evidence_of_failure_wins_over_anything_inconclusive() -> None:
    verdict = decide(facts(tests=_failed(0), signals=["SIGINT"], complete=False,
                           workers_lost=["gw0"], internal_error="late"))
    assert verdict["judgement"] == "failed"
    data = {"performance": {"checks": [_check(inconclusive=True), _check(name="rps > 1")]}}
    assert decide(facts(gate_data=data))["judgement"] == "failed"


def test_a_failed_test_explained_only_by_checks_that_could_not_judge() -> None:
    """A load test whose worker was lost fails; its only failed check says "inconclusive":
    one reason (the check's), and no evidence. A second, real failed check is evidence."""
    tests = _failed(2)
    lost = _check(nodeid="t.py::test_load", inconclusive=True, detail="a worker was lost")
    verdict = decide(facts(tests=tests, gate_data={"performance": {"checks": [lost]}}))
    assert verdict["reasons"] == ["performance: p95 < 250ms: a worker was lost"]
    assert verdict["judgement"] == "inconclusive"
    crossed = _check(name="rps > 1", nodeid="t.py::test_load", detail="rps = 0.5")
    verdict = decide(facts(tests=tests, gate_data={"performance": {"checks": [lost, crossed]}}))
    assert verdict["judgement"] == "failed"
    # an error keeps its own reason line, but explained only by such a check it is no evidence
    errored = decide(facts(tests=_failed(2, "error"),
                           gate_data={"performance": {"checks": [lost]}}))
    assert errored["judgement"] == "inconclusive"


def test_placeholder_is_inconclusive_and_schema_ties_judgement_to_verdict() -> None:
    assert placeholder("run in progress")["judgement"] == "inconclusive"
    go = decide(facts())
    assert validation_errors({**go, "judgement": "failed"})
    nogo = decide(facts(tests=_failed(0)))
    assert validation_errors({**nogo, "judgement": "passed"})
    assert validation_errors({k: v for k, v in nogo.items() if k != "judgement"}) == []
