"""Contract gate overhead per generated request vs calling Schemathesis directly (issue 13,
target ratio <= 1.2).

    python bench/contract_bench.py            # 12 rounds of 40 requests per side
    python bench/contract_bench.py --quick    # 6 rounds; exit 1 if the ratio is far off

Both sides run in this process against the same loopback API (tests/contract_api.py, which
conforms to its document), on the same operation (``GET /api/products``, a query parameter and
an array-of-objects response schema), with the same Hypothesis seed and the same number of
examples:

- **direct**: what a Schemathesis user writes: ``@given(case=operation.as_strategy())`` and
  ``case.call_and_validate(session=requests.Session())`` (Schemathesis' default checks);
- **gate**: the contract gate's ``run_operation`` with its ``ContractSession`` (budget
  accounting, the rate limiter (set high, so it never waits), the sensitive-URL guard on every
  hop, staging headers), one ``validate_response`` per configured check, problem bookkeeping.

Requests are counted at the server; the number is seconds per request. The rounds alternate
which side goes first; the result is the median of the paired ratios (gate / direct).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from contract_api import DOCUMENT, ContractAPI  # noqa: E402

TARGET = 1.2
FAIL_ABOVE = 2.0
SEED = 1234


def _direct(operation: Any, base_url: str, examples: int) -> None:
    import requests
    from hypothesis import HealthCheck, Phase, given, seed, settings

    session = requests.Session()

    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), print_blob=False)
    @seed(SEED)
    @given(case=operation.as_strategy())
    def test(case: Any) -> None:
        case.call_and_validate(base_url=base_url, session=session)

    test()
    session.close()


def _gate(operation: Any, base_url: str, examples: int) -> None:
    from pytest_staging.gates.contract.runner import run_operation
    from pytest_staging.gates.contract.session import Budget, ContractSession
    from pytest_staging.gates.contract.settings import ContractSettings
    from pytest_staging.redact import Redactor

    settings = ContractSettings(schema="/openapi.json", max_examples=examples, rate=1e9)
    budget = Budget(max_requests=10**6, max_seconds=3600, rate=settings.rate)
    headers = {"X-Api-Key": "bench-token"}
    session = ContractSession(base_url + "/", budget=budget,
                              sensitive_url=r"(?i)\bprod(uction)?\b", headers=headers, keep=0)
    result = run_operation(operation, session=session, base_url=base_url, settings=settings,
                           seed=SEED, headers=headers, timeout=10.0, verify=True,
                           redactor=Redactor({"bench-token"}))
    session.close()
    if result.problems or result.error:
        raise SystemExit(f"the bench API should conform: {result.problems or result.error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds; exit 1 if far off")
    parser.add_argument("--examples", type=int, default=40)
    args = parser.parse_args(argv)
    rounds = 6 if args.quick else 12

    import schemathesis

    api = ContractAPI().start()
    try:
        base_url = api.url.rstrip("/")
        schema = schemathesis.openapi.from_dict(DOCUMENT)
        operation = schema["/api/products"]["GET"]
        sides = {"direct": _direct, "gate": _gate}
        per_request: dict[str, list[float]] = {name: [] for name in sides}
        sent: dict[str, list[int]] = {name: [] for name in sides}
        _direct(operation, base_url, 5)  # warm-up: imports, strategy caches
        _gate(operation, base_url, 5)
        for round_ in range(rounds):
            order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
            for name in order:
                before = len(api.api_requests())
                started = time.perf_counter()
                sides[name](operation, base_url, args.examples)
                elapsed = time.perf_counter() - started
                count = len(api.api_requests()) - before
                sent[name].append(count)
                per_request[name].append(elapsed / max(count, 1))
    finally:
        api.stop()
    ratios = [g / d for g, d in zip(per_request["gate"], per_request["direct"], strict=True)]
    result = {
        "rounds": rounds, "examples": args.examples,
        "requests_per_round": {k: statistics.median(v) for k, v in sent.items()},
        "ms_per_request": {k: round(statistics.median(v) * 1000, 3)
                           for k, v in per_request.items()},
        "ratio": round(statistics.median(ratios), 3),
        "target": TARGET,
        "schemathesis": schemathesis.__version__,
    }
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "contract.json").write_text(json.dumps(result, indent=2) + "\n")
    if args.quick and result["ratio"] > FAIL_ABOVE:
        print(f"contract overhead ratio {result['ratio']} is far above the target {TARGET}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
