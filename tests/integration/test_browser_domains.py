"""The domain policy in real headless Chromium, with two HTTP servers on two loopback
ports: only the first is allowed, and the second must never see a document request
from a blocked link, form, redirect or popup."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pixelpilot.tools import Click, Navigate, Point, Space

pytest.importorskip("playwright")


class Site:
    """A server on 127.0.0.1 that serves `pages` (path -> HTML or ("redirect", url))
    and records every request it receives."""

    def __init__(self) -> None:
        self.pages: dict[str, str | tuple] = {}  # HTML, or ("redirect", url[, delay s])
        self.requests: list[tuple[str, str, str | None]] = []  # method, path, Sec-Fetch-Dest
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                site.requests.append((self.command, self.path, self.headers["Sec-Fetch-Dest"]))
                page = site.pages.get(self.path.split("?")[0], "<title>missing</title>")
                if isinstance(page, tuple):
                    time.sleep(page[2] if len(page) > 2 else 0)  # a slow server
                    self.send_response(302)
                    self.send_header("Location", page[1])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = page.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def documents(self) -> list[tuple[str, str, str | None]]:
        return [r for r in self.requests if r[2] in ("document", "iframe", None)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _links(other: str) -> str:
    style = "display:block;width:400px;height:40px;margin:8px;font:20px sans-serif"
    links = [
        ("cross", f"href='{other}/landing'"),
        ("same", "href='/next'"),
        ("redirect", "href='/to-other'"),
        ("hops", "href='/hop'"),
        ("local-redirect", "href='/to-next'"),
        ("tab", f"href='{other}/tab' target=_blank"),
        ("tab-redirect", "href='/to-other' target=_blank"),
        ("tab-same", "href='/next?from=tab' target=_blank"),
        ("tab-hops", "href='/hop' target=_blank"),
        ("tab-slow", "href='/slow-hop' target=_blank"),
    ]
    html = "".join(f"<a id='{i}' {attrs} style='{style}'>{i}</a>" for i, attrs in links)
    html += (
        f"<button id='pop' onclick=\"window.open('{other}/popup')\" style='{style}'>pop</button>"
    )
    html += f"<form method=post action='{other}/submit'><button id='post' style='{style}'>post</button></form>"
    return f"<!doctype html><title>start</title><body style='margin:0'>{html}</body>"


@pytest.fixture(scope="module")
def sites() -> Iterator[tuple[Site, Site]]:
    one, two = Site(), Site()
    one.pages = {
        "/start": _links(two.url),
        "/next": "<title>next page</title>",
        "/to-other": ("redirect", f"{two.url}/from-redirect"),
        "/hop": ("redirect", "/to-other"),  # two hops: allowed, then refused
        "/slow-hop": ("redirect", "/hop", 0.6),  # answered after the opener settled
        "/to-next": ("redirect", "/next"),
        "/framed": f"<title>framed</title><iframe src='{two.url}/frame'></iframe>",
    }
    two.pages = {p: f"<title>server two {p}</title>" for p in ("/landing", "/tab", "/popup")}
    yield one, two
    one.close()
    two.close()


@pytest.fixture
def open_env(sites):
    """A factory for browsers at server one's start page; all are closed after."""
    from pixelpilot.environments.browser import BrowserEnvironment

    opened = []
    for site in sites:
        site.requests.clear()

    def make(domains=None):
        env = BrowserEnvironment(f"{sites[0].url}/start", domains=domains)
        opened.append(env)
        return env

    yield make
    for env in opened:
        env.close()


def click(env, selector: str):
    """Click the middle of an element at its screenshot position (DPR 1)."""
    box = env.page.locator(selector).bounding_box()
    middle = Point(
        x=box["x"] + box["width"] / 2, y=box["y"] + box["height"] / 2, space=Space.SCREENSHOT_PX
    )
    return env.execute(Click(point=middle))


def back_to_start(env, one: Site) -> None:
    assert env.execute(Navigate(url=f"{one.url}/start")).ok
    assert env.observe().title == "start"


def only_server_one(one: Site):
    from pixelpilot.environments.domains import DomainPolicy

    return DomainPolicy(allow=(f"127.0.0.1:{one.port}",))


def test_the_allowlist_blocks_links_forms_redirects_and_popups(sites, open_env) -> None:
    one, two = sites
    env = open_env(only_server_one(one))
    port2 = f"127.0.0.1:{two.port}"

    result = click(env, "#cross")  # a cross-origin link: the page stays on server one
    assert result.ok and f"A navigation to {two.url}/landing was blocked" in result.note
    assert f"{port2} is not in the allowed domains (127.0.0.1:{one.port})" in result.note
    assert env.observe().url == f"{one.url}/start" and env.page.title() == "start"

    result = click(env, "#post")  # a form posting to server two
    assert result.ok and f"{two.url}/submit was blocked" in result.note
    assert env.page.url == f"{one.url}/start"

    navigate = env.execute(Navigate(url=f"{two.url}/landing"))  # refused before any request
    assert not navigate.ok
    assert navigate.error == (
        f"Navigation to {two.url}/landing was blocked: {port2} is not in the allowed domains "
        f"(127.0.0.1:{one.port})."
    )

    result = click(env, "#redirect")  # same origin, but it redirects to server two
    assert result.ok and f"A redirect to {two.url}/from-redirect was blocked" in result.note
    assert env.page.url == f"{one.url}/start" and ("GET", "/to-other", "document") in one.requests

    result = click(env, "#hops")  # two redirects: server one, then server two
    assert result.ok and f"A redirect to {two.url}/from-redirect was blocked" in result.note
    assert env.page.url == f"{one.url}/start"

    redirected = env.execute(Navigate(url=f"{one.url}/to-other"))
    assert not redirected.ok
    assert redirected.error.startswith(f"Could not open {one.url}/to-other: A redirect to")
    assert f"{port2} is not in the allowed domains" in redirected.error
    back_to_start(env, one)

    for selector, url in (
        ("#tab", "/tab"),
        ("#pop", "/popup"),
        ("#tab-redirect", "/from-redirect"),
    ):
        result = click(env, selector)  # new tabs: closed, not followed
        assert result.ok and f"A new tab to {two.url}{url} was blocked and closed" in result.note
        assert "now shown" not in result.note
        assert env.page.url == f"{one.url}/start"
        assert [p.url for p in env.context.pages] == [f"{one.url}/start"], selector

    assert two.requests == []  # server two never received anything at all


def test_a_refused_start_page_raises_before_any_request(sites) -> None:
    from pixelpilot.environments import ControllerError
    from pixelpilot.environments.browser import BrowserEnvironment

    one, two = sites
    two.requests.clear()
    with pytest.raises(
        ControllerError, match=f"start page: Navigation to {two.url}/landing was blocked"
    ):
        BrowserEnvironment(f"{two.url}/landing", domains=only_server_one(one))
    assert two.requests == []


@pytest.mark.parametrize("link", ["#tab-hops", "#tab-slow"])
def test_a_new_tab_that_escapes_through_two_redirects_is_closed(sites, open_env, link) -> None:
    """The known limit: a new tab's first request comes before its page exists, so the
    controller sees only its first redirect (hop one to hop two, both on server one);
    hop two's redirect to server two goes out, and the tab is closed when it lands.
    #tab-slow's first answer comes after the opener settled, so Playwright tells of the
    tab only then: the controller must wait for it (CI once lost this race)."""
    one, two = sites
    env = open_env(only_server_one(one))
    result = click(env, link)
    assert result.ok and f"A new tab reached {two.url}/from-redirect and was closed" in result.note
    assert [p.url for p in env.context.pages] == [f"{one.url}/start"]
    assert env.page.url == f"{one.url}/start"


def test_allowed_links_redirects_and_tabs_still_work_under_a_policy(sites, open_env) -> None:
    one, two = sites
    env = open_env(only_server_one(one))

    result = click(env, "#same")
    assert result.ok and result.note is None and env.observe().title == "next page"
    back_to_start(env, one)
    result = click(env, "#local-redirect")  # a redirect that stays on server one
    assert result.ok and env.page.url == f"{one.url}/next"
    back_to_start(env, one)
    result = click(env, "#tab-same")  # a new tab on server one is followed
    assert result.ok and "A new tab opened" in result.note
    assert env.observe().url == f"{one.url}/next?from=tab" and env.page.title() == "next page"
    assert env.execute(Navigate(url=f"{one.url}/to-next")).ok
    assert env.observe().title == "next page"
    assert env.execute(Navigate(url="about:blank")).ok

    framed = env.execute(Navigate(url=f"{one.url}/framed"))  # a frame from server two
    assert framed.ok and f"A navigation to {two.url}/frame was blocked" in framed.note
    assert env.observe().title == "framed"
    assert two.requests == []


def test_a_denylist_blocks_only_what_it_names(sites, open_env) -> None:
    from pixelpilot.environments.domains import DomainPolicy

    _, two = sites
    env = open_env(DomainPolicy(deny=(f"127.0.0.1:{two.port}",)))
    result = click(env, "#cross")
    assert result.ok and "is in the denied domains" in result.note
    assert click(env, "#same").ok and env.observe().title == "next page"
    assert two.requests == []


def test_without_a_policy_everything_is_followed(sites, open_env) -> None:
    one, two = sites
    env = open_env()
    assert click(env, "#cross").ok and env.observe().url == f"{two.url}/landing"
    back_to_start(env, one)
    assert click(env, "#redirect").ok and env.observe().url == f"{two.url}/from-redirect"
    back_to_start(env, one)
    result = click(env, "#pop")
    assert result.ok and "A new tab opened" in result.note and env.page.url == f"{two.url}/popup"
    paths = [path for _, path, _ in two.documents()]
    assert paths == ["/landing", "/from-redirect", "/popup"]


def test_a_policy_can_be_set_and_lifted_on_a_running_browser(sites, open_env) -> None:
    one, two = sites
    env = open_env()
    env.set_domains(only_server_one(one))
    assert "was blocked" in click(env, "#cross").note and env.page.url == f"{one.url}/start"
    assert two.requests == []
    env.set_domains(None)
    assert click(env, "#cross").ok and env.observe().url == f"{two.url}/landing"


TRICKY_URLS = [
    "http://example.org\\@127.0.0.1:8001/",  # issue 14.6: the host is example.org
    "http://user:pw@127.0.0.1:8001/",
    "http://example.com#@evil.test/",
    "http://example.com?@evil.test/",
    "http://evil.test\\.example.com/",
    "http:\\\\example.com\\x",
    "http:example.com",
    "  http://example.com/  ",
    "http://exa\tmple.com/",
    "http://exa\nmple.com.evil.test/",
    "http://2130706433/",
    "http://0x7f.1:8001/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://0x7f000001/",
    "http://%31%32%37.0.0.1/",
    "http://%65xample.com/",
    "http://\uff11\uff12\uff17.0.0.1/",  # full-width digits
    "http://bücher.example/",
    "http://xn--bcher-kva.example/",
    "http://\u24d4xample.com/",  # circled letter e
    "http://EXAMPLE.COM./",
    "HTTP://Example.COM:8080/x",
    "http://[::1]:8080/",
    "http://[0:0::1]/",
    "http://[::ffff:127.0.0.1]/",
    "https://example.com:443/",
    "http://example.com:80/",
    "http://example.com:0080/",
    "ws://example.com:81/",
    "wss://example.com/",
    "http://a b.example/",
    "http://1.2.3.4.5/",
    "http://example.com:99999/",
]
CHROMIUM_READS = """(url) => {
  try { const u = new URL(url); return [u.protocol.slice(0, -1), u.hostname, u.port]; }
  catch (e) { return null; }
}"""


def test_the_policy_reads_tricky_urls_as_chromium_does(sites, open_env) -> None:
    """An independent oracle: Chromium's own `new URL()` says what host and port each
    URL reaches; the policy's parser must agree on every one, and decide accordingly."""
    from pixelpilot.environments.domains import DomainPolicy, parse_url

    env = open_env()
    disagreements = []
    for url in TRICKY_URLS:
        chromium = env.page.evaluate(CHROMIUM_READS, url)
        ours = parse_url(url)
        if chromium is None or ours is None:
            if (chromium is None) != (ours is None):
                disagreements.append((url, chromium, ours))
            continue
        scheme, host, port = chromium[0], chromium[1].rstrip("."), int(chromium[2] or 0) or None
        if (ours.scheme, ours.host, ours.port) != (scheme, host, port):
            disagreements.append((url, chromium, ours))
            continue
        pattern = f"{host}:{port}" if port else host
        assert DomainPolicy(allow=(pattern,)).permits(url), url
        assert not DomainPolicy(deny=(pattern,)).permits(url), url
    # Chromium departs from the standard for a space in a host (it escapes it, a%20b):
    # the standard's parser refuses that URL, so any restricting policy refuses it too.
    assert [d[0] for d in disagreements] == ["http://a b.example/"]
    assert disagreements[0][2] is None
    assert not DomainPolicy(deny=("evil.test",)).permits("http://a b.example/")


def test_a_backslash_before_user_info_cannot_reach_the_allowed_host(sites, open_env) -> None:
    """`http://example.org\\@127.0.0.1:PORT/` is example.org to Chromium (issue 14.6): the
    agent's policy and the controller both refuse it, and nothing is requested."""
    from pixelpilot.agent.policy import Policy

    one, _ = sites
    url = f"http://example.org\\@127.0.0.1:{one.port}/next"
    policy = Policy(allow_domains=(f"127.0.0.1:{one.port}",))
    decision = policy.check(Navigate(url=url))
    assert decision.verdict == "deny" and "example.org is not in the allowed" in decision.reason
    env = open_env(only_server_one(one))
    one.requests.clear()
    result = env.execute(Navigate(url=url))
    assert not result.ok and "example.org is not in the allowed domains" in result.error
    assert env.page.url == f"{one.url}/start" and one.requests == []


def test_a_replay_holds_to_the_recorded_runs_domain_lists(tmp_path) -> None:
    """A run recorded under an allow-list keeps it on replay (issue 14.3): the page it
    navigated to now redirects to a denied server, which sees nothing, while a replay
    told to use an open policy does reach it (the escape the recorded lists prevent)."""
    from pixelpilot.agent.loop import Agent, AgentConfig
    from pixelpilot.agent.policy import Policy
    from pixelpilot.agent.replay import replay_run
    from pixelpilot.agent.trajectory import read_trajectory
    from pixelpilot.environments import open_browser
    from pixelpilot.vlm.backends.scripted import ScriptedBackend

    one, two = Site(), Site()
    try:
        one.pages = {"/start": "<title>start</title><p>one</p>", "/next": "<title>next</title>"}
        two.pages = {"/landing": "<title>two</title>"}
        policy = Policy(allow_domains=(f"127.0.0.1:{one.port}",))
        with open_browser(f"{one.url}/start", domains=policy.domains) as env:
            backend = ScriptedBackend([f"NAVIGATE {one.url}/next", "FINISH done"])
            config = AgentConfig(record=tmp_path, video=False, report=False)
            result = Agent(backend, env, dialect="qwen2vl", config=config, policy=policy).run("go")
        assert result.status == "success", result
        header = read_trajectory(result.trajectory_dir)["header"]
        assert header["policy"]["allow_domains"] == [f"127.0.0.1:{one.port}"]
        one.pages["/next"] = ("redirect", f"{two.url}/landing")  # the site changed since
        report = replay_run(result.trajectory_dir)
        assert two.requests == [] and report.failed_actions == 1
        assert ("GET", "/next", "document") in one.requests
        open_replay = replay_run(result.trajectory_dir, policy=Policy(sensitive=frozenset()))
        assert ("GET", "/landing", "document") in two.requests and open_replay.replayed_actions == 1
    finally:
        one.close()
        two.close()
