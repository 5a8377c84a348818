"""Secrets: every encoding redacted, hosts bound, errors and logs clean, the CLI's specs.

The encodings are produced by the standard library and by the rules other programs
follow (a browser's percent-encoding, a JSON writer, an HTML escaper), never by the
code under test; each must come back as the placeholder, with the text around intact.
"""

from __future__ import annotations

import html
import json
import logging
import re
import stat
import subprocess
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelpilot.agent.commands import UsageError, _secrets
from pixelpilot.agent.loop import Agent, AgentConfig
from pixelpilot.agent.policy import Policy
from pixelpilot.agent.secrets import RedactedError, Secrets
from pixelpilot.environments import ControllerError, FakeEnvironment
from pixelpilot.tools import InfrastructureError, Navigate, Type
from pixelpilot.vlm import load_backend

VALUE = "Tr0ub4dor  &3/é\"'<x>+%"


def encodings(value: str) -> dict[str, str]:
    collapsed = " ".join(value.split())
    return {
        "raw": value,
        "quote": quote(value),
        "quote safe=''": quote(value, safe=""),
        "quote_plus": quote_plus(value),
        "lower-case hex": re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(value)),
        "twice percent-encoded": quote(quote(value, safe=""), safe=""),
        "encodeURIComponent": quote(value, safe="-_.!~*'()"),
        "html.escape": html.escape(value),
        "html.escape quote=False": html.escape(value, quote=False),
        "decimal entities": "".join(f"&#{ord(c)};" for c in value),
        "hex entities": "".join(f"&#x{ord(c):x};" for c in value),
        "json ascii": json.dumps(value)[1:-1],
        "json utf-8": json.dumps(value, ensure_ascii=False)[1:-1],
        "whitespace collapsed": collapsed,
        "whitespace as newline": value.replace("  ", "\n"),
        "whitespace trimmed and collapsed, html": html.escape(collapsed),
        "quote_plus inside json": json.dumps(quote_plus(value))[1:-1],
        "collapsed then percent-encoded": quote(collapsed),
    }


@pytest.mark.parametrize("kind", sorted(encodings(VALUE)))
def test_every_encoding_is_redacted(kind: str) -> None:
    secrets = Secrets({"password": VALUE})
    written = encodings(VALUE)[kind]
    assert secrets.redact(f"<p>before {written} after</p>") == "<p>before {{password}} after</p>"


def test_redaction_reaches_keys_lists_and_nested_records() -> None:
    secrets = Secrets({"a": "alpha-1234", "ab": "alpha-1234-beta"})
    data = {"url": f"https://x/?q={quote_plus('alpha-1234-beta')}", "alpha-1234": ["alpha-1234"]}
    assert secrets.redact(data) == {"url": "https://x/?q={{ab}}", "{{a}}": ["{{a}}"]}


def test_other_text_is_left_alone() -> None:
    secrets = Secrets({"password": "hunter2 x"})
    text = "hunter2, hunter 2, hunter2x, HUNTER2 X and {{password}}"
    assert secrets.redact(text) == text


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=4, max_size=24).filter(lambda v: v.strip() == v and len(v.strip()) >= 4))
def test_any_value_in_any_of_the_encodings_is_redacted(value: str) -> None:
    secrets = Secrets({"s": value})
    for kind, written in encodings(value).items():
        assert "{{s}}" in secrets.redact(f"[{written}]"), (kind, written)


def test_hosts_bind_a_secret_and_urls_never_get_one() -> None:
    secrets = Secrets.from_specs(
        ["pw=PW@Example.COM,127.0.0.1:8000", "token=TOKEN"], environ={"PW": "p", "TOKEN": "t"}
    ).bound("http://start.test:9000/login")
    assert secrets.hosts("pw") == ("example.com", "127.0.0.1:8000")
    assert secrets.hosts("token") == ("start.test:9000",)  # unbound: the start page's host
    typing = Type(text="{{pw}}")
    assert secrets.refusal(typing, "https://example.com/login") is None
    assert secrets.refusal(typing, "http://example.com:8080/") is None  # no port named: any
    assert secrets.refusal(typing, "http://127.0.0.1:8000/a") is None
    for elsewhere in ("http://127.0.0.1:8001/", "https://evil.test/", "https://a.example.com/",
                      "http://example.org\\@example.com/", "about:blank", "file:///etc"):  # fmt: skip
        assert "does not belong" in secrets.refusal(typing, elsewhere), elsewhere
    assert secrets.refusal(Type(text="{{token}}"), "http://start.test:9000/x") is None
    assert secrets.refusal(Type(text="{{token}}"), "http://start.test/x") is not None
    assert secrets.refusal(Type(text="{{unknown}} plain"), "https://evil.test/") is None
    assert secrets.refusal(typing, None) is None  # no URL (the desktop): the policy asks
    refused = secrets.refusal(Navigate(url="https://example.com/?q={{pw}}"), "https://example.com/")
    assert "never put into addresses" in refused


@pytest.mark.parametrize(
    "spec", ["pw", "pw=", "pw=UNSET", "=PW", "p w=PW", "pw=PW@", "pw=PW@user@host", "pw=PW@*.x"]
)
def test_the_command_line_refuses_a_bad_spec(spec: str, monkeypatch) -> None:
    monkeypatch.setenv("PW", "value")
    monkeypatch.delenv("UNSET", raising=False)
    with pytest.raises(UsageError, match="--secret"):
        _secrets([spec], "https://example.com/")


def test_the_command_line_binds_to_the_start_url(monkeypatch) -> None:
    monkeypatch.setenv("PW", "value")
    secrets = _secrets(["pw=PW", "other=PW@bank.test"], "https://shop.test/login")
    assert (secrets.hosts("pw"), secrets.hosts("other")) == (("shop.test",), ("bank.test",))
    assert _secrets(["pw=PW"], None).hosts("pw") == ()  # the desktop: nothing to bind to


def test_an_error_that_carries_a_secret_is_raised_clean() -> None:
    secrets = Secrets({"pw": "s3cret value"})
    timeout = subprocess.TimeoutExpired(["xdotool", "type", "--", "s3cret value"], 30)
    error = ControllerError("xdotool type hung")
    error.__cause__ = timeout
    clean = secrets.redact_error(error)
    assert type(clean) is ControllerError and str(clean) == "xdotool type hung"
    assert clean.__cause__ is None and clean is not error  # the cause held the argv
    foreign = secrets.redact_error(ValueError(f"bad {quote_plus('s3cret value')}"))
    assert isinstance(foreign, RedactedError) and not isinstance(foreign, InfrastructureError)
    assert str(foreign) == "ValueError: bad {{pw}}"
    plain = ControllerError("nothing to hide")
    assert secrets.redact_error(plain) is plain


class Hangs(FakeEnvironment):
    """A controller whose typing tool hangs: subprocess's error carries the argv."""

    def _perform(self, action):
        if action.action == "type":
            logging.getLogger("pixelpilot.environments.fake").warning("typing %s", action.text)
            raise subprocess.TimeoutExpired(["xdotool", "type", "--", action.text], 30)
        return super()._perform(action)


def test_an_unexpected_error_is_reraised_redacted_and_logs_are_clean(tmp_path, caplog) -> None:
    from PIL import Image

    secret = "correct horse"
    backend = load_backend("scripted", replies=["Action: TYPE '{{pw}}'"])
    env = Hangs([Image.new("RGB", (64, 48))])
    config = AgentConfig(record=tmp_path, video=False, report=False)
    agent = Agent(backend, env, dialect="qwen2vl", config=config, secrets={"pw": secret},
                  policy=Policy(approve=lambda a, r: True))  # fmt: skip
    with (
        caplog.at_level(logging.WARNING, logger="pixelpilot"),
        pytest.raises(RedactedError) as raised,
    ):
        agent.run("type it")
    error = raised.value
    assert "{{pw}}" in str(error) and secret not in str(error)
    assert error.__cause__ is None and error.__suppress_context__
    assert "typing {{pw}}" in caplog.text and secret not in caplog.text
    record = (agent.result.trajectory_dir / "trajectory.jsonl").read_text()
    assert secret not in record and agent.result.status == "error"


def test_the_desktop_controller_keeps_the_typed_text_out_of_its_errors(tmp_path) -> None:
    from pixelpilot.environments.desktop import DesktopEnvironment

    hanging = tmp_path / "xdotool"
    hanging.write_text("#!/bin/sh\nsleep 5\n")
    hanging.chmod(hanging.stat().st_mode | stat.S_IEXEC)
    desktop = object.__new__(DesktopEnvironment)  # no display needed to run one command
    desktop._xdotool, desktop._env, desktop.display = str(hanging), {}, ":99"
    with pytest.raises(ControllerError) as raised:
        desktop._xdo("type", "--delay", 12, "--", "s3cret value", timeout=0.2)
    error = raised.value
    assert "s3cret" not in str(error) and error.__cause__ is None and error.__suppress_context__
