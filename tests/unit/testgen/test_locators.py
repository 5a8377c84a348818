"""locator_source: codegen order, uniqueness at record time, nth last; golden sources by hand."""

from __future__ import annotations

import ast

import pytest

from pixelpilot.environments.base import ElementInfo
from pixelpilot.testgen.locators import locator_source

BUTTON = dict(tag="button", role="button", name="Create account", text="Create account")
CASES = [
    # test id first when unique
    (
        dict(BUTTON, test_id="submit", counts={"test_id": 1, "role": 1}),
        'page.get_by_test_id("submit")',
    ),
    # a test id that matched twice gives way to role and name
    (
        dict(BUTTON, test_id="submit", counts={"test_id": 2, "role": 1}),
        'page.get_by_role("button", name="Create account")',
    ),
    # role+name not unique: the text is next for a button (no placeholder/label/alt)
    (dict(BUTTON, counts={"role": 2, "text": 1}), 'page.get_by_text("Create account")'),
    (
        dict(
            tag="input",
            role="textbox",
            name="Email",
            placeholder="you@example.com",
            label="Email",
            counts={"role": 3, "placeholder": 1, "label": 1},
        ),
        'page.get_by_placeholder("you@example.com")',
    ),
    (
        dict(
            tag="input",
            role="textbox",
            name="Full name",
            label="Full name",
            text="Ada",
            counts={"role": 2, "label": 1, "text": 1},
        ),
        'page.get_by_label("Full name")',
    ),
    # a field's text is its value: never a text locator, so css id before it
    (
        dict(tag="input", role="textbox", text="Ada", css_id="name", counts={"css_id": 1}),
        'page.locator("#name")',
    ),
    (
        dict(tag="img", role="img", name="Logo", alt="Logo", counts={"role": 2, "alt": 1}),
        'page.get_by_alt_text("Logo")',
    ),
    (dict(tag="span", title="Close", counts={"title": 1}), 'page.get_by_title("Close")'),
    (dict(tag="div", css_id="1st", counts={"css_id": 1}), "page.locator('[id=\"1st\"]')"),
    # nothing unique: the first candidate, narrowed with nth(0)
    (
        dict(BUTTON, counts={"role": 3, "text": 3}),
        'page.get_by_role("button", name="Create account").nth(0)',
    ),
    # ... by the element's own index among the role's matches (the second of three)
    (
        dict(BUTTON, counts={"role": 3, "text": 3}, nth={"role": 1, "text": 2}),
        'page.get_by_role("button", name="Create account").nth(1)',
    ),
    # nothing to name it by: its tag
    (dict(tag="div", counts={}), 'page.locator("div").nth(0)'),
    # an old trajectory (no counts): the first candidate as is
    (dict(BUTTON), 'page.get_by_role("button", name="Create account")'),
    # quotes and non-ASCII survive as a Python literal, quoted as ruff format quotes them
    (
        dict(tag="a", role="link", name='Say "hi" — café', counts={"role": 1}),
        'page.get_by_role("link", name=\'Say "hi" — café\')',
    ),
    (
        dict(tag="a", role="link", name='it\'s "x"', counts={"role": 1}),
        'page.get_by_role("link", name=\'it\\\'s "x"\')',
    ),
]


@pytest.mark.parametrize(("fields", "expected"), CASES)
def test_locator_source_golden(fields, expected) -> None:
    source = locator_source(ElementInfo(**fields))
    assert source == expected
    ast.parse(source)  # valid Python


def test_old_record_without_new_fields_still_loads() -> None:
    old = {
        "tag": "button",
        "role": "button",
        "name": "Go",
        "text": "Go",
        "label": None,
        "test_id": None,
        "input_type": None,
        "bbox": None,
        "url": None,
    }
    info = ElementInfo.model_validate(old)
    assert info.counts is None and info.placeholder is None
    assert locator_source(info) == 'page.get_by_role("button", name="Go")'
