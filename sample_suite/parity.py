"""Production and staging side by side: two demo shops for the parity gate.

``python -m sample_suite.parity --defect drops-hsts`` starts a clean "production" shop and a
"staging" shop with the given defects (``drops-hsts``, ``removes-field``, or any other), prints
both URLs and the command that compares them, and serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Iterable

from sample_suite.app import DEFECTS, PARITY_DEFECTS, RunningApp, start_app


def start_pair(staging_defects: Iterable[str] = (), *, production_port: int = 0,
               staging_port: int = 0) -> tuple[RunningApp, RunningApp]:
    """(production, staging): a clean shop and one with ``staging_defects``, both running."""
    production = start_app(production_port)
    try:
        staging = start_app(staging_port, staging_defects)
    except Exception:
        production.stop()
        raise
    return production, staging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sample_suite.parity",
                                     description="a production and a staging demo shop")
    parser.add_argument("--production-port", type=int, default=8001,
                        help="port of production on 127.0.0.1 [8001]")
    parser.add_argument("--staging-port", type=int, default=8002,
                        help="port of staging on 127.0.0.1 [8002]")
    parser.add_argument("--defect", action="append", default=[],
                        choices=sorted([*DEFECTS, *PARITY_DEFECTS]),
                        help="inject a regression into staging; repeatable")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    production, staging = start_pair(args.defect, production_port=args.production_port,
                                     staging_port=args.staging_port)
    print(f"production {production.url}\nstaging    {staging.url} "
          f"(defects: {', '.join(args.defect) or 'none'})\n"
          f"compare:   pytest sample_suite --staging-url {staging.url} "
          f"--staging-compare-url {production.url}", flush=True)
    try:
        while staging.thread.is_alive() and production.thread.is_alive():
            staging.thread.join(timeout=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        staging.stop()
        production.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
