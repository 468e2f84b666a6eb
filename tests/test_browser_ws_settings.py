"""``--staging-browser-ws`` as a setting: one precedence (command line > env > policy), checked
as a ws(s) URL, a usage error when empty or malformed, and its credentials secret everywhere
(settings table, usage errors, what is sent to the server). No browser needed here: the runs
with a browser server are in tests/test_browser_remote.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_staging.browser import remote
from pytest_staging.browser.ws_endpoint import check_ws_endpoint, secrets, shown
from pytest_staging.policy import PolicyError, parse_policy
from pytest_staging.redact import Redactor
from pytest_staging.url_headers import SettingsError

PASSWORD = "ws-pass-6c1f0a"
TOKEN = "ws-token-93be21d7"
CAPS = '{"browserstack.accessKey":"ak-4f4e1b2c"}'


def test_endpoint_shown_without_its_secrets() -> None:
    url = f"wss://deploy:{PASSWORD}@grid.example:443/playwright?token={TOKEN}&headless=true"
    assert check_ws_endpoint(f"  {url} ") == url
    assert shown(url) == "wss://***@grid.example:443/playwright?token=***&headless=***"
    found = secrets(url)
    assert {PASSWORD, TOKEN} <= found
    assert "true" not in found and "deploy" not in found  # a setting and a user name
    assert shown("ws://127.0.0.1:3000/") == "ws://127.0.0.1:3000/"
    # A farm's own parameter (BrowserStack's caps) holding a key: long values are secrets.
    from urllib.parse import quote
    caps_url = f"wss://cdp.example/playwright?caps={quote(CAPS)}"
    assert CAPS in secrets(caps_url) and quote(CAPS) in secrets(caps_url)


@pytest.mark.parametrize("value, problem", [
    ("", "--staging-browser-ws is empty: give ws://HOST:PORT/PATH, or leave it unset"),
    (f"http://u:{PASSWORD}@host:3000/", "--staging-browser-ws http://***@host:3000/: expected a "
     "Playwright browser server endpoint ws://HOST:PORT/PATH (or wss://)"),
    ("ws:///nohost", "--staging-browser-ws ws:///nohost: expected a Playwright browser server"),
    ("ws://h:99999/", "--staging-browser-ws ws://h:99999/: invalid port"),
])
def test_bad_endpoints_are_one_line(value: str, problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        check_ws_endpoint(value)
    assert str(caught.value).startswith(problem)
    assert PASSWORD not in str(caught.value)


def test_policy_key_checks_without_echoing_secrets() -> None:
    good = parse_policy({"browser": {"ws_endpoint": "ws://10.0.0.5:3000/pw"}})
    assert good["browser.ws_endpoint"] == "ws://10.0.0.5:3000/pw"
    assert parse_policy({})["browser.ws_endpoint"] is None
    with pytest.raises(PolicyError) as caught:
        parse_policy({"browser": {"ws_endpoint": f"https://u:{PASSWORD}@x/?token={TOKEN}"}},
                     "p.toml")
    assert str(caught.value) == (
        "p.toml: browser.ws_endpoint: expected a Playwright browser server endpoint "
        "ws://HOST:PORT/PATH (or wss://), got 'https://***@x/?token=***'")
    with pytest.raises(PolicyError, match=r"browser.ws_endpoint: empty: give ws://"):
        parse_policy({"browser": {"ws_endpoint": ""}})


def test_launch_options_sent_to_the_server() -> None:
    args = {"headless": True, "executable_path": "/usr/bin/chromium", "slow_mo": 50,
            "env": {"STAGING_TOKEN": TOKEN}, "downloads_path": "/tmp/x", "channel": None,
            "ignore_default_args": ["--mute-audio"]}
    options = remote.connect_options(f"ws://h:1/?token={TOKEN}", args, 7.5,
                                     {"headers": {"X-Farm": "a"}, "ws_endpoint": "ws://old/"},
                                     endpoint_name="endpoint")
    assert options["endpoint"] == f"ws://h:1/?token={TOKEN}" and "ws_endpoint" not in options
    assert options["timeout"] == 7500
    assert options["headers"]["X-Farm"] == "a"
    sent = json.loads(options["headers"][remote.LAUNCH_OPTIONS_HEADER])
    # Playwright's names; never this machine's environment or paths.
    assert sent == {"headless": True, "executablePath": "/usr/bin/chromium", "slowMo": 50,
                    "ignoreDefaultArgs": ["--mute-audio"]}


def test_messages_name_the_endpoint_in_one_line() -> None:
    url = f"ws://deploy:{PASSWORD}@127.0.0.1:9/?token={TOKEN}"
    redactor = Redactor(secrets(url))
    error = (f"BrowserType.connect: WebSocket error: connect ECONNREFUSED 127.0.0.1:9\n"
             f"Call log:\n  - <ws connecting> {url}\n")
    assert remote.unusable(url, error, redactor) == (
        "remote browser server ws://***@127.0.0.1:9/?token=*** could not be used: WebSocket "
        "error: connect ECONNREFUSED 127.0.0.1:9")
    assert remote.dropped(url, None, redactor, earlier=True) == (
        "remote browser server ws://***@127.0.0.1:9/?token=*** closed the connection before "
        "this test (it stopped, or the network dropped)")


def settings_rows(pytester: pytest.Pytester, *args: str) -> tuple[Any, dict[str, str]]:
    result = pytester.runpytest_subprocess("--staging-show-settings", "-p", "no:cacheprovider",
                                           *args)
    rows = {line.split()[0]: line for line in result.stdout.lines[2:] if line.strip()}
    return result, rows


def test_one_precedence_and_masked_in_show_settings(pytester: pytest.Pytester,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makefile(".toml", policy='[browser]\nws_endpoint = "ws://from-policy:1/"\n')
    policy = "--staging-policy=policy.toml"
    _, rows = settings_rows(pytester, policy)
    assert rows["browser.ws_endpoint"].split()[1:] == ["ws://from-policy:1/", "policy",
                                                       "(policy.toml)"]
    monkeypatch.setenv("STAGING_BROWSER_WS", f"ws://deploy:{PASSWORD}@from-env:2/?t={TOKEN}")
    result, rows = settings_rows(pytester, policy)
    assert rows["browser.ws_endpoint"].split()[1:] == [
        "ws://deploy:***@from-env:2/?t=***", "env", "STAGING_BROWSER_WS"]
    assert PASSWORD not in result.stdout.str() and TOKEN not in result.stdout.str()
    _, rows = settings_rows(pytester, policy, "--staging-browser-ws=ws://from-cli:3/")
    assert rows["browser.ws_endpoint"].split()[1:] == [
        "ws://from-cli:3/", "command", "line", "(--staging-browser-ws)"]


def test_bad_or_empty_endpoint_is_a_usage_error_and_a_no_go(
        pytester: pytest.Pytester, run_staging: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    run = run_staging(f"--staging-browser-ws=https://u:{PASSWORD}@farm.example/",
                      url="http://127.0.0.1:9/")
    assert run.ret == 4
    assert run.verdict["verdict"] == "NO-GO"
    [reason] = run.verdict["reasons"]
    assert "--staging-browser-ws https://***@farm.example/: expected a Playwright browser " \
           "server endpoint" in reason
    assert PASSWORD not in run.output
    monkeypatch.setenv("STAGING_BROWSER_WS", "")
    run = run_staging(url="http://127.0.0.1:9/")
    assert run.ret == 4
    assert "STAGING_BROWSER_WS given an empty value" in run.verdict["reasons"][0]
