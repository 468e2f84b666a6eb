"""The release policy: one TOML file, every key declared, validated before anything runs.

A policy comes from ``--staging-policy FILE`` (a file whose top level is the policy, or a
``pyproject.toml`` with a ``[tool.pytest-staging]`` table) or else from ``[tool.pytest-staging]``
in the rootdir's ``pyproject.toml``. Every key has a default; an unknown key, a wrong type or a
bad value raises :class:`PolicyError` naming the file and the key. No pytest import here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from pytest_staging.browser.ws_endpoint import check_ws_endpoint
from pytest_staging.browser.ws_endpoint import shown as shown_ws_endpoint
from pytest_staging.gates.contract.settings import CONTRACT_KEYS
from pytest_staging.gates.parity.settings import PARITY_KEYS
from pytest_staging.gates.performance.settings import PERFORMANCE_KEYS
from pytest_staging.gates.security.settings import SECURITY_KEYS
from pytest_staging.history.settings import HISTORY_KEYS
from pytest_staging.policy_keys import (
    GATE_NAME,
    Key,
    PolicyError,
    at_least,
    check_value,
    from_raising,
    gate_name,
    non_empty_strings,
    one_of,
    path_like,
    regex,
)
from pytest_staging.quarantine import quarantine_problem
from pytest_staging.sensitive import DEFAULT_SENSITIVE_URL
from pytest_staging.trace_context import trace_url_problem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

BUILTIN_GATES: tuple[str, ...] = ("integration", "security", "performance")
__all__ = [
    "BUILTIN_GATES",
    "GATE_NAME",
    "Key",
    "Policy",
    "PolicyError",
    "all_keys",
    "load_policy",
    "parse_policy",
]
#: Gate names that would shadow pytest's or this plugin's own markers.
RESERVED_GATE_NAMES = frozenset(
    {"advisory", "destructive", "skip", "skipif", "xfail", "parametrize", "usefixtures",
     "filterwarnings", "flaky", "staging"}
)


#: The core's part of the one policy key table; each gate declares its own part
#: (``gates/*/settings.py``) in the same ``policy_keys.Key`` format.
CORE_KEYS: tuple[Key, ...] = (
    Key("default_gate", str, "integration",
        "gate of a test that carries no gate marker", gate_name),
    Key("gates.*.blocking", bool, True,
        "a failure in this gate blocks promotion (false: the gate is advisory)"),
    Key("gates.*.min_tests", int, None,
        "fewest blocking tests a blocking gate must run when selected; 0: the gate may be "
        "empty (reported empty, never as passed; a GO still needs one blocking test somewhere; "
        "the same rule in verify) [1 for blocking gates, 0 otherwise]",
        at_least(0)),
    Key("gates.*.description", str, "", "what the gate is for, shown in reports"),
    Key("gates.*.max_skipped", int, None,
        "most blocking tests that may be skipped or xfailed before the gate fails "
        "[no limit: skips are counted and reported, never counted as passed]", at_least(0)),
    Key("target.health", str, "/", "path polled until the target answers below 500",
        path_like),
    Key("target.wait", (int, float), 30.0,
        "seconds to wait for the target to become ready", at_least(0)),
    Key("target.interval", (int, float), 0.5, "seconds between readiness polls", at_least(0.01)),
    Key("target.version", str, "/version", "path of the endpoint that reports the deployed version",
        path_like),
    Key("target.version_field", str, "version",
        "JSON field (dotted for nested) holding the version in the version endpoint's body"),
    Key("target.version_header", str, "",
        "response header holding the version (used instead of version_field when set)"),
    Key("target.sensitive_url", str, DEFAULT_SENSITIVE_URL,
        "regex: destructive tests never run when the target or its redirects match it", regex),
    Key("target.timeout", (int, float), 10.0,
        "default timeout in seconds of every request the staging client sends", at_least(0.001)),
    Key("target.retries", int, 3,
        "retries of idempotent requests on connection errors and 502/503/504", at_least(0)),
    Key("target.public_headers", list, [],
        "names of --staging-header / --staging-compare-header headers whose values are not "
        "secret (shown as typed); every other header value is redacted in every output "
        "(--staging-public-header replaces this list)", non_empty_strings),
    Key("target.evidence", int, 5,
        "HTTP exchanges attached to a failing test's report", at_least(0)),
    Key("target.evidence_body", int, 2048,
        "bytes of each response body kept as evidence", at_least(0)),
    Key("browser.timeout", (int, float), 30.0,
        "seconds a browser journey's action or navigation may wait (Playwright's default "
        "timeout for the page, context and new_context fixtures)", at_least(0.001)),
    Key("suite.paths", list, [],
        "files, folders or globs, relative to the rootdir, that make up the whole suite: a run "
        "whose paths do not collect all of them is partial [pytest's testpaths]",
        non_empty_strings),
    Key("browser.ws_endpoint", str, None,
        "a remote Playwright browser server (ws://HOST:PORT/PATH) that runs the browser "
        "journeys instead of a local browser (--staging-browser-ws) [unset: a local browser]",
        from_raising(partial(check_ws_endpoint, source="")),
        shown=lambda value: repr(shown_ws_endpoint(value))),
    Key("evidence.trace_url", str, "",
        "link to a test's backend trace in the verdict's reports (html, md, JUnit, pytest-html): "
        "an http(s) URL of your trace viewer with {trace_id} where the W3C trace id goes, e.g. "
        "\"https://tempo.example/explore?traceId={trace_id}\" [no links]", trace_url_problem),
    Key("flaky.retries", int, 0,
        "reruns of a failed test before it counts as failed", at_least(0)),
    Key("flaky.policy", str, "warn",
        "a test that passed only on retry: warn (a warning) or fail (blocks)",
        one_of("warn", "fail")),
    Key("flaky.quarantine", list, [],
        "tests whose failures do not block until their entry expires: "
        "[{test = \"NODEID\", owner = \"...\", expires = 2026-12-31, reason = \"...\"}]; "
        "they still run and are reported, never count toward min_tests, and block again "
        "from the day after expires", quarantine_problem),
)


def all_keys() -> tuple[Key, ...]:
    """Every key a policy may hold, in documentation order."""
    return (CORE_KEYS + SECURITY_KEYS + PERFORMANCE_KEYS + PARITY_KEYS + CONTRACT_KEYS
            + HISTORY_KEYS)


@dataclass(frozen=True)
class GatePolicy:
    name: str
    blocking: bool = True
    min_tests: int = 1
    description: str = ""
    max_skipped: int | None = None


@dataclass(frozen=True)
class Policy:
    """A validated policy: every key present, defaults filled in."""

    values: Mapping[str, Any]
    gates: Mapping[str, GatePolicy]
    source: str = "(defaults)"
    explicit: frozenset[str] = field(default_factory=frozenset)

    def __getitem__(self, path: str) -> Any:
        return self.values[path]

    def get(self, path: str, default: Any = None) -> Any:
        return self.values.get(path, default)

    def is_set(self, path: str) -> bool:
        """Whether the policy file itself set ``path`` (rather than the default)."""
        return path in self.explicit

    def section(self, prefix: str) -> dict[str, Any]:
        """The keys under ``prefix`` (e.g. ``"security"``) with the prefix removed."""
        cut = len(prefix) + 1
        return {k[cut:]: v for k, v in self.values.items() if k.startswith(prefix + ".")}

    @property
    def default_gate(self) -> str:
        return str(self.values["default_gate"])

    def gate_names(self) -> list[str]:
        return list(self.gates)

    def with_gate(self, name: str, *, blocking: bool = True, min_tests: int | None = None,
                  description: str = "") -> Policy:
        """A copy with built-in gate ``name`` present (e.g. ``contract`` once a schema is
        configured); values the policy file set under ``[gates.NAME]`` win."""
        if name in self.gates:
            return self
        blocking = bool(self.values.get(f"gates.{name}.blocking", blocking))
        given = self.values.get(f"gates.{name}.min_tests")
        gate = GatePolicy(name=name, blocking=blocking,
                          min_tests=int(given) if given is not None else (
                              min_tests if min_tests is not None else int(blocking)),
                          description=str(self.values.get(f"gates.{name}.description")
                                          or description),
                          max_skipped=self.values.get(f"gates.{name}.max_skipped"))
        values = dict(self.values)
        for attr in ("blocking", "min_tests", "description", "max_skipped"):
            values[f"gates.{name}.{attr}"] = getattr(gate, attr)
        return Policy(values=values, gates={**self.gates, name: gate}, source=self.source,
                      explicit=self.explicit)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Policy:
        """A copy with some values replaced (command-line options beat the policy file)."""
        values = dict(self.values)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return Policy(values=values, gates=self.gates, source=self.source,
                      explicit=self.explicit | {k for k, v in overrides.items() if v is not None})


def _match(pattern: str, path: str) -> bool:
    want, have = pattern.split("."), path.split(".")
    return len(want) == len(have) and all(w in ("*", h) for w, h in zip(want, have, strict=False))


def _is_prefix(pattern: str, path: str) -> bool:
    want, have = pattern.split("."), path.split(".")
    return len(want) > len(have) and all(w in ("*", h) for w, h in zip(want, have, strict=False))


def _walk(table: Mapping[str, Any], keys: tuple[Key, ...], prefix: str,
          source: str) -> Iterator[tuple[str, Any]]:
    for name, value in table.items():
        path = f"{prefix}{name}"
        exact = next((k for k in keys if _match(k.path, path)), None)
        if exact is not None:
            check_value(exact, path, value, source)
            yield path, value
        elif isinstance(value, dict) and any(_is_prefix(k.path, path) for k in keys):
            if path.startswith("gates."):
                problem = gate_name(name) if prefix == "gates." else None
                if problem or name in RESERVED_GATE_NAMES:
                    raise PolicyError(f"{source}: {path}: {problem or 'reserved name'}")
            yield path, {}
            yield from _walk(value, keys, path + ".", source)
        else:
            parents = path.split(".")[:-1]
            known = sorted({
                k.path.split(".")[len(parents)] for k in keys
                if len(k.path.split(".")) > len(parents)
                and all(w in ("*", h) for w, h in zip(k.path.split("."), parents, strict=False))
            })
            hint = f" (known keys here: {', '.join(known)})" if known else ""
            raise PolicyError(f"{source}: {path}: unknown key{hint}")


def parse_policy(data: Mapping[str, Any], source: str = "(inline)") -> Policy:
    """Validate a policy mapping (already parsed TOML) and fill in every default."""
    keys = all_keys()
    explicit: dict[str, Any] = {}
    declared_gates: list[str] = []
    for path, value in _walk(data, keys, "", source):
        if path.startswith("gates.") and path.count(".") == 1:
            declared_gates.append(path.split(".", 1)[1])
        elif not (isinstance(value, dict) and not any(_match(k.path, path) for k in keys)):
            explicit[path] = value

    values: dict[str, Any] = {k.path: k.default for k in keys if "*" not in k.path}
    values.update({k: v for k, v in explicit.items() if "*" not in k})
    for key in keys:
        if key.type == (int, float) and isinstance(values.get(key.path), int):
            values[key.path] = float(values[key.path])

    gates: dict[str, GatePolicy] = {}
    for name in (*BUILTIN_GATES, *[g for g in declared_gates if g not in BUILTIN_GATES]):
        blocking = bool(explicit.get(f"gates.{name}.blocking", True))
        min_tests = explicit.get(f"gates.{name}.min_tests")
        gates[name] = GatePolicy(
            name=name,
            blocking=blocking,
            min_tests=int(min_tests) if min_tests is not None else (1 if blocking else 0),
            description=str(explicit.get(f"gates.{name}.description", "")),
            max_skipped=explicit.get(f"gates.{name}.max_skipped"),
        )
        for attr in ("blocking", "min_tests", "description", "max_skipped"):
            values[f"gates.{name}.{attr}"] = getattr(gates[name], attr)
    if values["default_gate"] not in gates:
        raise PolicyError(
            f"{source}: default_gate: gate {values['default_gate']!r} is not declared "
            f"(declared: {', '.join(gates)}; declare it under [gates.{values['default_gate']}])")
    return Policy(values=values, gates=gates, source=source, explicit=frozenset(explicit))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"{path}: policy file not found") from None
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read policy file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{path}: not UTF-8 text (byte {exc.start}): TOML files are "
                          "UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path}: invalid TOML ({exc})") from None


def load_policy(path: str | Path | None, rootdir: str | Path | None = None) -> Policy:
    """Load the policy from ``path``, else from ``rootdir/pyproject.toml``, else the defaults."""
    if path is not None:
        file = Path(path)
        data = _read_toml(file)
        if file.name == "pyproject.toml" or "tool" in data:
            table = data.get("tool", {}).get("pytest-staging")
            if table is None:
                raise PolicyError(f"{file}: no [tool.pytest-staging] table")
            return parse_policy(table, f"{file} [tool.pytest-staging]")
        return parse_policy(data, str(file))
    if rootdir is not None:
        pyproject = Path(rootdir) / "pyproject.toml"
        if pyproject.is_file():
            table = _read_toml(pyproject).get("tool", {}).get("pytest-staging")
            if table is not None:
                return parse_policy(table, f"{pyproject} [tool.pytest-staging]")
    return parse_policy({}, "(defaults)")
