"""What the browser controller records for UI test generation, in real headless Chromium:
the per-locator match counts are checked against Playwright's own `locator.count()`."""

from __future__ import annotations

from pixelpilot.environments.base import ElementInfo
from pixelpilot.testgen.locators import locator_source
from pixelpilot.tools import Click, Point, Space
from tests.integration.browser_fixtures import browser, pages_url  # noqa: F401

PAGE = """<!doctype html><title>Counts</title>
<form>
  <label>Full name <input id="name" placeholder="Your name"></label>
  <label>Full name again <input id="name2" placeholder="Your name, again"></label>
  <label for="pw">Password</label><input id="pw" type="password" value="hunter2-secret">
  <button type="button" data-testid="save">Save</button>
  <button type="button">Save draft</button>
  <button style="display:none">Save hidden</button>
  <img alt="Shop logo" title="Logo" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
  <span title="Close">Close this</span>
</form>"""


def _click(env, selector: str) -> ElementInfo:
    box = env.page.locator(selector).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    result = env.execute(Click(point=Point(x=x, y=y, space=Space.SCREENSHOT_PX)))
    assert result.ok and result.element is not None, result.error
    return result.element


def _playwright_count(env, key: str, info: ElementInfo) -> int:
    page = env.page
    by = {
        "test_id": lambda: page.get_by_test_id(info.test_id),
        "role": lambda: page.get_by_role(info.role, name=info.name),
        "placeholder": lambda: page.get_by_placeholder(info.placeholder),
        "label": lambda: page.get_by_label(info.label),
        "alt": lambda: page.get_by_alt_text(info.alt),
        "title": lambda: page.get_by_title(info.title),
        "css_id": lambda: page.locator(f"#{info.css_id}"),
    }
    return by[key]().count()


def test_recorded_counts_agree_with_playwright(browser) -> None:  # noqa: F811
    env = browser("form.html")
    env.page.set_content(PAGE)
    checked = 0
    for selector in ("#name", "#pw", "[data-testid=save]", "img", "span[title]"):
        info = _click(env, selector)
        assert info.counts, selector
        for key, recorded in info.counts.items():
            if key == "text":
                continue  # get_by_text's smallest-element rule is only approximated
            assert recorded == _playwright_count(env, key, info), (selector, key, info)
            checked += 1
    assert checked >= 10


def test_recorded_fields_and_chosen_locator(browser) -> None:  # noqa: F811
    env = browser("form.html")
    env.page.set_content(PAGE)
    name = _click(env, "#name")
    assert (name.placeholder, name.css_id, name.label) == ("Your name", "name", "Full name")
    # "Full name" is held by both labels (Playwright matches a substring): placeholder next?
    # "Your name" is held by both placeholders too, so the CSS id is the unique one.
    assert name.counts["label"] == 2 and name.counts["placeholder"] == 2
    assert locator_source(name) == 'page.locator("#name")'
    save = _click(env, "[data-testid=save]")
    assert locator_source(save) == 'page.get_by_test_id("save")'
    # the role count: "Save" is in "Save draft" too; the hidden one is not counted
    assert save.counts["role"] == 2
    password = _click(env, "#pw")
    assert "hunter2" not in password.model_dump_json()
    assert locator_source(password) == 'page.get_by_role("textbox", name="Password")'
    logo = _click(env, "img")
    assert (logo.alt, logo.title) == ("Shop logo", "Logo")


LOOK_ALIKES = """<!doctype html><title>Cart</title>
<ul>
  <li>Pixel ruler <button type="button">Remove</button></li>
  <li>Vision glasses <button type="button">Remove</button></li>
  <li>Grounding cable <button type="button">Remove</button></li>
</ul>"""


def test_a_look_alike_is_narrowed_to_the_one_the_run_clicked(browser) -> None:  # noqa: F811
    """Three "Remove" buttons: the recorded index makes Playwright's own nth() resolve to
    the clicked one (nth(0) would remove the Pixel ruler instead)."""
    env = browser("form.html")
    env.page.set_content(LOOK_ALIKES)
    info = _click(env, "li:nth-child(2) button")
    assert info.counts["role"] == 3 and info.nth["role"] == 1
    source = locator_source(info)
    assert source == 'page.get_by_role("button", name="Remove").nth(1)'
    page = env.page  # noqa: F841 - the generated source names it
    resolved = eval(source)  # the generated Python, run against the live page
    assert resolved.evaluate("(el) => el.parentElement.firstChild.textContent") == (
        "Vision glasses "
    )


# Text and names that the cheap pre-tests of the counting (a `textContent` holding every
# word, a tag that can carry the role) must not rule out: text split over elements, cased
# by CSS ("ß" becomes "SS"), broken by <br>, in table cells, hidden by display or
# visibility; names from aria-labelledby, a label's for, a wrapping label, a value.
TRICKY = """<!doctype html><title>Tricky</title>
<div id=a>Order <b>total</b>: 42</div>
<p id=b>order total: 42 and more</p>
<p id=c style="text-transform:uppercase">Straße sale</p>
<p id=d>strasse sale today</p>
<div id=e><span>Order total</span><span style="display:none">Order total</span></div>
<div style="visibility:hidden">Order total: 42 hidden</div>
<section id=f><p>first line<br>second line</p></section>
<table><tr><td id=g>Order</td><td>total</td></tr></table>
<span id=lab>Send now</span>
<button id=h aria-labelledby=lab type=button>Go</button>
<button type=button>Send now please</button>
<input id=i type=submit value="Send now">
<label for=j>Send now field</label><input id=j>
<label>Send now <input id=k type=checkbox></label>
<a id=l href="#x">Send <em>now</em></a>
<div role=button id=m>send NOW</div>
"""

# The counting as first written, straightforwardly (every element's innerText), the
# reference the fast one must equal
_TEXT_REFERENCE = """(text) => {
  const norm = (s) => (s || '').replace(/\\s+/g, ' ').trim().toLowerCase();
  const holds = (s, v) => norm(s).includes(norm(v));
  let c = 0;
  for (const n of document.querySelectorAll('*')) {
    if (!holds(n.innerText, text) || ['SCRIPT', 'STYLE', 'HEAD'].includes(n.tagName)) continue;
    if (Array.from(n.children).some((k) => holds(k.innerText, text))) continue;
    c += 1;
  }
  return c;
}"""


def test_fast_counts_equal_the_reference_and_playwright(browser) -> None:  # noqa: F811
    env = browser("form.html")
    env.page.set_content(TRICKY)
    texts = roles = 0
    selectors = [
        "#a",
        "#b",
        "#c",
        "#d",
        "#e span:first-child",
        "#f p",
        "#g",
        "#lab",
        "#h",
        "#i",
        "#j",
    ]
    for selector in [*selectors, "#k", "#l", "#m"]:
        info = _click(env, selector)
        if "text" in info.counts:
            reference = env.page.evaluate(_TEXT_REFERENCE, info.text)
            assert info.counts["text"] == reference, (selector, info.text)
            texts += 1
        if "role" in info.counts:
            assert info.counts["role"] == _playwright_count(env, "role", info), (selector, info)
            roles += 1
    assert texts >= 8 and roles >= 5
    # the values the page was built to make collide: "order total" in #a, #b, both of #e's
    # spans (a display:none element's innerText is its textContent) and the table row (its
    # cells joined by a tab); not the visibility:hidden div. The uppercase "STRASSE" in #c
    # and #d.
    assert _click(env, "#e span:first-child").counts["text"] == 5
    assert _click(env, "#c").counts["text"] == 2
