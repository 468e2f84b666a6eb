"""The real-run false-GO hunter (issue 20 item 7): seeded random scenarios, each run as a real
``pytest`` subprocess of the plugin against a real loopback target, judged by an oracle written
from the scenario (and what the harness itself saw happen: signals sent, the target's answers),
never from the plugin's code.

- ``scenario``: what a seed draws (suite, flags, policy, target fault, signals) and
  ``generate(seed)``; pure, stdlib only.
- ``suite``: the scenario as files (test modules, conftest, pytest.ini, policy).
- ``oracle``: ``judge(scenario, world)``: may the run be GO, must it be, what it must show.
- ``target``: the loopback target and its faults; it records what it answered.
- ``runner``: ``run_seed(seed, root)``: one run, its process timeline, and every invariant
  checked, as ``Finding``s.
- ``campaign``: many seeds, the summary ``bench/hunt.py`` prints.

The bookkeeping twin is ``tests/test_false_go_hunter.py`` (synthetic reports into ``decide()``).
"""
