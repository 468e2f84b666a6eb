"""docs/deploy-systems.md and docs/exit-codes.md tell the truth: the exit-code table is the one
the code uses, the recipes' scripts really exit 0 / 1 / 3 for a GO, a failed release and a run
that could not judge (run through bash against a loopback target), Flagger's rollback hook
fires only for a failed release, and Argo's Web-metric conditions map the judgement of real
verdicts onto Successful / Failed / Inconclusive. (YAML parsing and the CLI options of every
command: tests/test_docs_commands.py.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from servers import HARDENED_HEADERS, LoopbackServer, free_port, json_answer

from pytest_staging import exit_codes
from pytest_staging.cli import VERIFY_EXIT_HELP
from pytest_staging.verdict import GateSpec, RunFacts, TargetFacts, TestRecord, decide

DOCS = Path(__file__).resolve().parent.parent / "docs"
KEY = "deploy-recipe-signing-key-7"
VERSION = "1.4.2"
SUITE = '''
import pytest

def test_health(staging):
    assert staging.get("/health").status_code == 200

def test_orders(staging):
    assert staging.get("/api/orders").status_code == 200, "orders are down"

@pytest.mark.security
def test_no_framing(staging):
    assert "frame-ancestors 'none'" in staging.get("/").headers["Content-Security-Policy"]

@pytest.mark.performance
def test_fast(staging):
    assert staging.get("/health").elapsed.total_seconds() < 5
'''


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def yaml_documents(name: str) -> list[Any]:
    return [yaml.safe_load(b) for b in re.findall(r"^```yaml\n(.*?)^```", page(name),
                                                  re.MULTILINE | re.DOTALL)]


def kind(name: str, wanted: str, metadata_name: str) -> dict[str, Any]:
    found = [d for d in yaml_documents(name) if d.get("kind") == wanted
             and d["metadata"]["name"] == metadata_name]
    assert len(found) == 1, (wanted, metadata_name)
    return found[0]


# -- the one table ---------------------------------------------------------------------------
def exit_table() -> dict[int, list[str]]:
    """docs/exit-codes.md's first table: exit status -> its cells."""
    rows: dict[int, list[str]] = {}
    for line in page("exit-codes.md").split("## What each cause is")[0].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0].isdigit():
            rows[int(cells[0])] = cells[1:]
    return rows


def test_exit_code_table_is_the_code() -> None:
    table = exit_table()
    assert sorted(table) == [0, 1, 2, 3, 4]
    judgement = {code: cells[2].strip("`") for code, cells in table.items()}
    assert judgement == {exit_codes.GO: "passed", exit_codes.FAILED_EXIT: "failed",
                         exit_codes.INTERRUPTED: "inconclusive",
                         exit_codes.COULD_NOT_JUDGE: "inconclusive",
                         exit_codes.USAGE: "inconclusive"}
    pytest_column = {code: cells[0] for code, cells in table.items()}
    assert "interrupted" in pytest_column[exit_codes.INTERRUPTED]
    assert "usage error" in pytest_column[exit_codes.USAGE]
    verify_column = {code: cells[1] for code, cells in table.items()}
    assert "usage error" in verify_column[exit_codes.VERIFY_USAGE]
    assert "`failed`" in verify_column[exit_codes.FAILED_EXIT]
    assert "could not judge" in verify_column[exit_codes.COULD_NOT_JUDGE]
    # verify --help lists exactly the statuses the table gives verify, with the same meaning
    helped = dict(re.findall(r"^  (\d)  (\w[\w ]*)", VERIFY_EXIT_HELP, re.MULTILINE))
    used = {code for code, cell in verify_column.items() if "not used" not in cell}
    assert {int(c) for c in helped} == used == {0, 1, 2, 3}
    assert helped["1"].startswith("failed") and helped["2"].startswith("usage error")
    assert helped["3"].startswith("could not judge")


def test_the_code_maps_judgements_as_the_table_says() -> None:
    run = exit_codes.run_exit_code
    assert run("failed", 2, True) == run("failed", 3, False) == 1  # evidence wins
    assert run("inconclusive", 1, True) == 2
    assert [run("inconclusive", s, False) for s in (0, 1, 2, 3, 4, 5)] == [3, 3, 2, 3, 4, 3]
    assert run(None, 0, False) == 3  # a verdict without a judgement never looks failed
    assert exit_codes.verify_exit_code([], "passed") == (0, -1)
    assert exit_codes.verify_exit_code(["verdict", "partial", "gates"], "failed") == (1, 0)
    assert exit_codes.verify_exit_code(["verdict", "version"], "failed") == (3, 1)
    assert exit_codes.verify_exit_code(["verdict", "version"], "inconclusive") == (3, 0)
    assert exit_codes.verify_exit_code(["verdict", "judgement"], "inconclusive") == (3, 1)
    assert exit_codes.verify_exit_code(["signature", "verdict"], "failed") == (3, 0)
    assert exit_codes.verify_exit_code(["verdict", "usage"], "failed") == (2, 1)
    assert exit_codes.verify_exit_code(["rederive"], "passed") == (3, 0)  # a contradicted GO
    assert exit_codes.verify_exit_code(["a-check-added-later"], None) == (3, 0)


# -- the recipes' exit-code mappings ---------------------------------------------------------
def test_argo_job_fails_at_once_only_on_failed_and_usage() -> None:
    template = kind("deploy-systems.md", "AnalysisTemplate", "staging-acceptance")
    job = template["spec"]["metrics"][0]["provider"]["job"]["spec"]
    fail_now = [r for r in job["podFailurePolicy"]["rules"] if r["action"] == "FailJob"]
    assert [r["onExitCodes"]["values"] for r in fail_now] == [
        [exit_codes.FAILED_EXIT, exit_codes.VERIFY_USAGE]]
    assert job["template"]["spec"]["restartPolicy"] == "Never"  # podFailurePolicy needs it
    assert fail_now[0]["onExitCodes"]["containerName"] == (
        job["template"]["spec"]["containers"][0]["name"])


def test_gitlab_retries_only_what_could_not_judge() -> None:
    jobs = yaml_documents("deploy-systems.md")[-1]
    codes = jobs["acceptance"]["retry"]["exit_codes"]
    assert exit_codes.FAILED_EXIT not in codes and exit_codes.USAGE not in codes
    assert set(codes) <= set(exit_codes.KEPT)
    assert jobs["promote"]["environment"]["name"] == "production"


def _verdict(**facts: Any) -> dict[str, Any]:
    gate = GateSpec("integration")
    base = RunFacts(complete=True, gates=[gate],
                    target=TargetFacts(url="http://shop/", reachable=True, ready=True,
                                       version_start=VERSION, version_end=VERSION),
                    tests=[TestRecord("t.py::test_ok", "integration", "passed")])
    for name, value in facts.items():
        setattr(base, name, value)
    return decide(base)


def _expr(condition: str, result: dict[str, Any]) -> bool:
    """Argo's expr-lang conditions as the recipe writes them (member access, ==, &&, string
    literals), evaluated over ``result``; anything else in them fails the test."""
    assert re.fullmatch(r'[\w.\s"=&-]*', condition), condition
    python = condition.replace("&&", " and ")

    class Node(dict):  # result.a.b: a missing key is nil, as in expr
        def __getattr__(self, name: str) -> Any:
            value = self.get(name)
            return Node(value) if isinstance(value, dict) else value

    return bool(eval(python, {"__builtins__": {}}, {"result": Node(result)}))


def _phase(metric: dict[str, Any], result: dict[str, Any]) -> str:
    """Argo's evaluation of one measurement with both conditions (utils/evaluate)."""
    if _expr(metric["failureCondition"], result):
        return "Failed"
    return "Successful" if _expr(metric["successCondition"], result) else "Inconclusive"


def test_argo_web_metric_maps_judgements_to_phases() -> None:
    template = kind("deploy-systems.md", "AnalysisTemplate", "staging-verdict")
    [metric] = template["spec"]["metrics"]
    metric = {k: v.replace("{{args.version}}", VERSION) if isinstance(v, str) else v
              for k, v in metric.items()}
    go = _verdict()
    failed = _verdict(tests=[TestRecord("t.py::test_ok", "integration", "failed")])
    down = _verdict(target=TargetFacts(url="http://shop/"), tests=[])
    assert (go["judgement"], failed["judgement"], down["judgement"]) == (
        "passed", "failed", "inconclusive")
    assert _phase(metric, go) == "Successful"
    assert _phase(metric, failed) == "Failed"
    assert _phase(metric, down) == "Inconclusive"
    older = {k: v for k, v in failed.items() if k != "judgement"}
    assert _phase(metric, older) == "Inconclusive"
    other = _verdict(target=TargetFacts(url="http://shop/", reachable=True, ready=True,
                                        version_start="1.4.1", version_end="1.4.1"))
    assert _phase(metric, other) == "Inconclusive"  # a GO of another version


# -- the scripts, run ------------------------------------------------------------------------
@pytest.fixture
def target() -> Iterator[LoopbackServer]:
    srv = LoopbackServer(version=VERSION, always_headers=HARDENED_HEADERS)
    srv.routes["/api/orders"] = lambda req: json_answer({"orders": []})
    srv.start()
    yield srv
    srv.stop()


def bash(script: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a recipe's script as its runner does: bash, the key and the version in the
    environment, and (as an image would ship) a policy that waits 1 s for a target."""
    policy = cwd / "fast-policy.toml"
    policy.write_text("[target]\nwait = 1\ninterval = 0.2\n")
    full = {**os.environ, "STAGING_VERDICT_KEY": KEY, "VERSION": VERSION,
            "STAGING_POLICY": str(policy),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            **env}
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=full, capture_output=True,
                          text=True, timeout=240)


def argo_job_script() -> str:
    template = kind("deploy-systems.md", "AnalysisTemplate", "staging-acceptance")
    container = template["spec"]["metrics"][0]["provider"]["job"]["spec"]["template"][
        "spec"]["containers"][0]
    assert container["command"] == ["bash", "-c"]
    return container["args"][0]


def flagger_hooks(suite: Path, report: Path) -> dict[str, str]:
    canary = kind("deploy-systems.md", "Canary", "shop")
    hooks = {h["type"]: h["metadata"]["cmd"] for h in canary["spec"]["analysis"]["webhooks"]}
    return {kind: cmd.replace("/tmp/staging-report/shop", str(report))
            .replace("cd /suite", f"cd {suite}") for kind, cmd in hooks.items()}


@pytest.mark.parametrize(("case", "expected"), [("go", 0), ("failed", 1), ("down", 3)])
def test_argo_job_script_exits_with_the_judgement(pytester: pytest.Pytester,
                                                  target: LoopbackServer, case: str,
                                                  expected: int) -> None:
    (pytester.path / "tests" / "staging").mkdir(parents=True)
    (pytester.path / "tests" / "staging" / "test_smoke.py").write_text(SUITE)
    url = target.url
    if case == "failed":
        target.routes["/api/orders"] = lambda req: json_answer({"error": "db down"}, 500)
    elif case == "down":
        url = f"http://127.0.0.1:{free_port()}/"
    proc = bash(argo_job_script(), pytester.path, STAGING_URL=url)
    assert proc.returncode == expected, (proc.stdout[-3000:], proc.stderr[-2000:])
    if expected:
        judgement = "failed" if expected == 1 else "inconclusive"
        assert proc.stderr.startswith(f"pytest-staging verify: verdict: NO-GO ({judgement}): ")


@pytest.mark.parametrize(("case", "pre_rollout", "rolls_back"),
                         [("go", 0, False), ("failed", 1, True), ("down", 3, False)])
def test_flagger_hooks_roll_back_only_a_failed_release(
        pytester: pytest.Pytester, target: LoopbackServer, case: str, pre_rollout: int,
        rolls_back: bool) -> None:
    suite = pytester.path / "suite"
    (suite / "tests" / "staging").mkdir(parents=True)
    (suite / "tests" / "staging" / "test_smoke.py").write_text(SUITE)
    report = pytester.path / "staging-report-shop"
    hooks = flagger_hooks(suite, report)
    url = target.url if case != "down" else f"http://127.0.0.1:{free_port()}/"
    if case == "failed":
        target.routes["/api/orders"] = lambda req: json_answer({"error": "db down"}, 500)
    hooks["pre-rollout"] = hooks["pre-rollout"].replace("http://shop-canary.shop/", url)
    # Before the first run of a canary there is no verdict: no rollback.
    assert bash(hooks["rollback"], pytester.path).returncode != 0
    proc = bash(hooks["pre-rollout"], pytester.path)
    assert proc.returncode == pre_rollout, (proc.stdout[-3000:], proc.stderr[-2000:])
    assert (bash(hooks["rollback"], pytester.path).returncode == 0) is rolls_back
    assert bash(hooks["post-rollout"], pytester.path).returncode == 0
    assert not report.exists()
    assert bash(hooks["rollback"], pytester.path).returncode != 0
