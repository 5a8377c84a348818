"""Heal "rewrite" on source text (golden files written by hand), and the Healer's parts
that need no browser: its argument checks, URLs on the base URL, secrets blanked out."""

from __future__ import annotations

import pytest

from pixelpilot.testgen.healer import Healer
from pixelpilot.testgen.relocate import Edit, rewrite, unified

SOURCE = '''def test_flow(page: Page, pilot: Healer) -> None:
    """Résumé — a flow."""
    page.goto(pilot.url("/form.html"))
    pilot.click(page.get_by_label("Näme"), "the 'Näme' field", step=1, role="textbox")
    pilot.fill(
        page.locator("#pw"), os.environ["PW"], "the 'Password' field", step=2, role="textbox"
    )
    pilot.drag(page.locator("#card"), "the card", None, "the Done column", step=3)
    pilot.click(page.locator("#go"), "the Go button", step=4, role="button")


def test_other(page: Page, pilot: Healer) -> None:
    pilot.click(page.locator("#go"), "the Go button", step=4, role="button")
'''


def test_the_steps_locators_are_replaced_and_nothing_else() -> None:
    edits = [
        Edit("test_flow", 2, False, 'page.get_by_label("Password")'),
        Edit("test_flow", 3, True, 'page.get_by_text("Done")'),
        Edit("test_flow", 4, False, 'page.get_by_role("button", name="Go")'),
        Edit("test_flow", 1, False, 'page.get_by_label("Full näme")'),
    ]
    after, missed = rewrite(SOURCE, edits)
    assert missed == []
    assert after == (
        SOURCE.replace('page.get_by_label("Näme")', 'page.get_by_label("Full näme")')
        .replace('page.locator("#pw")', 'page.get_by_label("Password")')
        .replace('"the card", None,', '"the card", page.get_by_text("Done"),')
        .replace(
            '    pilot.click(page.locator("#go"), "the Go button", step=4, role="button")\n\n',
            '    pilot.click(page.get_by_role("button", name="Go"), "the Go button", step=4, '
            'role="button")\n\n',
        )
    )
    # the other test's step 4 is untouched
    assert after.endswith(
        '    pilot.click(page.locator("#go"), "the Go button", step=4, role="button")\n'
    )


def test_a_drag_source_and_its_destination_are_told_apart() -> None:
    after, _ = rewrite(SOURCE, [Edit("test_flow", 3, False, 'page.get_by_text("Card")')])
    assert 'pilot.drag(page.get_by_text("Card"), "the card", None, "the Done column"' in after


def test_an_edit_without_its_call_is_reported() -> None:
    edits = [Edit("test_flow", 9, False, "x"), Edit("test_missing", 1, False, "x"),
             Edit("test_flow", 1, True, "x")]  # fmt: skip
    after, missed = rewrite(SOURCE, edits)
    assert after == SOURCE
    assert missed == edits


def test_the_diff_is_unified() -> None:
    after, _ = rewrite(SOURCE, [Edit("test_other", 4, False, 'page.get_by_text("Go")')])
    diff = unified(SOURCE, after, "tests/test_flow.py")
    assert diff.splitlines()[:2] == ["--- a/tests/test_flow.py", "+++ b/tests/test_flow.py"]
    assert '-    pilot.click(page.locator("#go"), "the Go button", step=4, role="button")' in diff
    assert (
        '+    pilot.click(page.get_by_text("Go"), "the Go button", step=4, role="button")' in diff
    )
    assert diff.count("\n-    ") == 1 and diff.count("\n+    ") == 1


def test_healer_refuses_what_cannot_work() -> None:
    with pytest.raises(ValueError, match="heal must be one of off, on, rewrite"):
        Healer(None, heal="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="locator_timeout must be above 0"):
        Healer(None, locator_timeout=0)


def test_urls_go_on_the_base_url() -> None:
    healer = Healer(None, base_url="http://127.0.0.1:8000")
    assert healer.url("/form.html") == "http://127.0.0.1:8000/form.html"
    assert healer.url("done.html?x=1") == "http://127.0.0.1:8000/done.html?x=1"
    assert Healer(None, base_url="http://h:1/app/").url("/a.html") == "http://h:1/app/a.html"
    assert Healer(None).url("/form.html") == "/form.html"
    pattern = healer.url_pattern("/done.html")
    assert pattern.match("http://127.0.0.1:8000/done.html")
    assert pattern.match("http://127.0.0.1:8000/done.html?id=3#top")
    assert not pattern.match("http://127.0.0.1:8000/done.htmlx")
    assert not pattern.match("http://127.0.0.1:8001/done.html")


def test_typed_environment_secrets_are_blanked_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_PASSWORD", "hunter2-long")
    monkeypatch.setenv("SHORT", "ab")
    healer = Healer(None)
    healer._note_secret("hunter2-long")
    healer._note_secret("ab")  # too short to blank out safely
    healer._note_secret("Ada Lovelace")  # not from the environment: not a secret
    assert healer.secrets == {"hunter2-long": "SHOP_PASSWORD"}
    text = 'textbox "Password": hunter2-long; name Ada Lovelace'
    assert healer.redact(text) == 'textbox "Password": {{SHOP_PASSWORD}}; name Ada Lovelace'
