"""The domain policy on its own: hosts, subdomains, ports, deny over allow, local URLs."""

from __future__ import annotations

import pytest

from pixelpilot.environments.domains import DomainPolicy, navigate_refusal, redirect_target


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://example.com/", True),
        ("https://a.example.com/x?y=1", True),
        ("https://a.b.example.com:8443/", True),
        ("http://EXAMPLE.com./", True),  # case and the trailing dot do not matter
        ("https://notexample.com/", False),  # a suffix is not a subdomain
        ("https://example.com.evil.test/", False),
        ("https://evil.test/?next=https://example.com/", False),
        ("https://example.com@evil.test/", False),  # user info is not the host
        ("wss://a.example.com/socket", True),
    ],
)
def test_a_host_matches_itself_and_its_subdomains(url: str, allowed: bool) -> None:
    assert DomainPolicy(allow=("example.com",)).permits(url) is allowed


def test_a_star_prefix_means_the_same_as_none() -> None:
    starred, plain = DomainPolicy(allow=("*.example.com",)), DomainPolicy(allow=("example.com",))
    for url in ("https://example.com/", "https://a.example.com/", "https://other.test/"):
        assert starred.permits(url) is plain.permits(url)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:8001/page", True),
        ("http://127.0.0.1:8002/page", False),
        ("http://127.0.0.1/page", False),  # port 80
        ("http://localhost:8001/", False),  # another host name, even if it is the same machine
        ("http://1.127.0.0.1:8001/", False),  # an IP address has no subdomains
    ],
)
def test_a_port_pins_the_pattern_to_that_port(url: str, allowed: bool) -> None:
    assert DomainPolicy(allow=("127.0.0.1:8001",)).permits(url) is allowed


def test_default_ports_count_as_ports() -> None:
    policy = DomainPolicy(allow=("example.com:443",))
    assert policy.permits("https://example.com/") and policy.permits("https://example.com:443/")
    assert not policy.permits("http://example.com/")  # port 80


def test_deny_wins_over_allow() -> None:
    policy = DomainPolicy(allow=("example.com",), deny=("ads.example.com",))
    assert policy.permits("https://www.example.com/")
    assert not policy.permits("https://ads.example.com/")
    assert not policy.permits("https://x.ads.example.com/")


def test_an_empty_allowlist_allows_everything_not_denied() -> None:
    policy = DomainPolicy(deny=("evil.test",))
    assert policy.permits("https://anything.example/") and policy.permits("file:///tmp/x.html")
    assert not policy.permits("https://evil.test/") and not policy.permits("http://a.evil.test/")
    assert DomainPolicy().permits("https://evil.test/") and not DomainPolicy().restricts


@pytest.mark.parametrize(
    "url",
    [
        "about:blank",
        "about:srcdoc",
        "data:text/html,<p>hi</p>",
        "blob:https://x.test/1234",
        "ABOUT:BLANK",
    ],
)
def test_local_urls_that_fetch_nothing_are_always_allowed(url: str) -> None:
    assert DomainPolicy(allow=("example.com",), deny=("x.test",)).permits(url)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "chrome://settings", "ftp-ish:thing"])
def test_file_and_other_schemes_only_without_an_allowlist(url: str) -> None:
    assert not DomainPolicy(allow=("example.com",)).permits(url)
    assert DomainPolicy(deny=("evil.test",)).permits(url)


@pytest.mark.parametrize("url", ["example.com", "http://a b.test/", "http://x:99999/", "http://"])
def test_what_is_not_a_url_is_refused_by_any_policy(url: str) -> None:
    assert DomainPolicy(deny=("evil.test",)).reason(url) == "it is not a valid URL"
    assert DomainPolicy().permits(url)  # no lists: nothing to decide


def test_the_host_is_the_one_the_whatwg_parser_sees() -> None:
    """urllib reads `example.org\\@127.0.0.1` as user info and host 127.0.0.1; a browser
    treats the backslash as a slash, so the host is example.org (issue 14.6)."""
    local = DomainPolicy(allow=("127.0.0.1:8001",))
    assert not local.permits("http://example.org\\@127.0.0.1:8001/")
    assert local.reason("http://example.org\\@127.0.0.1:8001/") == (
        "example.org is not in the allowed domains (127.0.0.1:8001)"
    )
    for same in ("http://2130706433:8001/", "http://0x7f.1:8001/", "http://127.1:8001/",
                 "http://%31%32%37.0.0.1:8001/", "HTTP://127.0.0.1:8001/x", "http:127.0.0.1:8001",
                 " http://127.0.0.1:8001/ ", "http://user:pw@127.0.0.1:8001/"):  # fmt: skip
        assert local.permits(same), same
    assert not DomainPolicy(deny=("127.0.0.1",)).permits("http://0177.0.0.1/")  # octal
    assert not DomainPolicy(allow=("example.com",)).permits("http://exa\tmple.com.evil.test/")


def test_a_default_port_in_a_pattern_is_still_that_port() -> None:
    http = DomainPolicy(allow=("example.com:80",))
    assert http.permits("http://example.com/") and not http.permits("http://example.com:81/")
    assert not http.permits("https://example.com/")
    assert DomainPolicy(allow=("[::1]:8001",)).permits("http://[0:0::1]:8001/")


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("https://example.com/", None),
        ("http://127.0.0.1:8000/x", None),
        ("about:blank", None),
        ("javascript:void(document.title='pwned')", "javascript: URLs cannot be opened"),
        ("JavaScript:alert(1)", "javascript: URLs cannot be opened"),
        ("file:///etc/hostname", "file: URLs cannot be opened"),
        ("chrome://settings", "chrome: URLs cannot be opened"),
        ("data:text/html,<script>alert(1)</script>", "data: URLs cannot be opened"),
        ("view-source:https://example.com/", "view-source: URLs cannot be opened"),
        ("about:srcdoc", "about: URLs cannot be opened"),
        ("example.com", "it is not a valid URL"),
    ],
)
def test_a_model_may_navigate_only_to_http_and_about_blank(url: str, refused: str | None) -> None:
    reason = navigate_refusal(url)
    assert (reason is None) if refused is None else reason.startswith(refused)


def test_view_source_is_judged_by_the_page_it_shows() -> None:
    policy = DomainPolicy(allow=("example.com",))
    assert policy.permits("view-source:https://example.com/")
    assert not policy.permits("view-source:https://evil.test/")


def test_international_names_match_their_punycode() -> None:
    policy = DomainPolicy(allow=("bücher.example",))
    assert policy.permits("https://xn--bcher-kva.example/")
    assert policy.permits("https://shop.xn--bcher-kva.example/")


def test_explain_says_what_was_blocked_and_why() -> None:
    policy = DomainPolicy(allow=("example.com",))
    assert policy.explain("https://evil.test/x") == (
        "Navigation to https://evil.test/x was blocked: evil.test is not in the allowed "
        "domains (example.com)."
    )
    denied = DomainPolicy(deny=("evil.test",)).explain("http://a.evil.test:8080/")
    assert denied == (
        "Navigation to http://a.evil.test:8080/ was blocked: a.evil.test:8080 is in the denied "
        "domains (evil.test)."
    )
    assert "is allowed" in policy.explain("https://example.com/")
    ports = DomainPolicy(allow=("127.0.0.1:8001",)).reason("http://127.0.0.1:8002/")
    assert ports == "127.0.0.1:8002 is not in the allowed domains (127.0.0.1:8001)"
    assert len(policy.explain("https://evil.test/" + "a" * 5000)) < 400  # long URLs are cut


def test_patterns_are_checked_and_normalised() -> None:
    policy = DomainPolicy(allow=["Example.COM", " https://docs.test/path "], deny="evil.test")
    assert policy.allow == ("Example.COM", " https://docs.test/path ") and policy.deny == (
        "evil.test",
    )
    assert policy.permits("https://example.com/") and policy.permits("https://docs.test/other")
    assert not policy.permits("https://evil.test/")
    assert policy == DomainPolicy(
        allow=("Example.COM", " https://docs.test/path "), deny=("evil.test",)
    )
    for bad in ("", "*", "example.com:http", "a b.com", "*.*.example.com"):
        with pytest.raises(ValueError, match="domain pattern"):
            DomainPolicy(allow=(bad,))


def test_redirect_target_resolves_relative_locations() -> None:
    assert redirect_target("http://a.test/x/y", 302, {"location": "/z"}) == "http://a.test/z"
    assert (
        redirect_target("http://a.test/", 301, {"location": "http://b.test/"}) == "http://b.test/"
    )
    assert redirect_target("http://a.test/", 200, {"location": "/z"}) is None
    assert redirect_target("http://a.test/", 302, {}) is None
