"""The survival bench's page changes (bench/testgen_pages.py) on the real demo shop in
headless Chromium: every change that should keep the signup working keeps it working for
a user who finds things by label and role, and every regression really breaks it. Without
this the bench's pass rates would measure broken mutations, not healing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from testgen_pages import BREAKS, KEEPS, VIEWPORT_CHANGES, serve_changing

from pixelpilot.agent.demo import DEMO_APP


def _sign_up(url: str, viewport: tuple[int, int], dpr: float, scripted: bool) -> tuple[bool, str]:
    """Sign up as a person would (label and role, not ids); returns (welcomed, changed).
    No sleeps: the change script marks the page when it has run (`scripted`), and the
    form's submit handler runs inside the click, so its effect is there when click returns
    (a regression's MutationObserver runs in the same task, before the next evaluate)."""
    from pixelpilot.environments import open_browser

    env = open_browser(f"{url}/form.html", viewport=viewport, device_scale_factor=dpr)
    try:
        page = env.page
        page.wait_for_load_state("load")
        if scripted:
            page.wait_for_function("() => window.__benchChanged !== undefined", timeout=15000)
        changed = page.evaluate("window.__benchChanged || ''")
        if changed == "rename_ids_classes":  # the recorded id is really gone, the label kept
            assert page.locator("#submit").count() == 0
            assert page.locator("#x-submit").count() == 1
        page.get_by_label("Full name").fill("Ada Lovelace")
        page.get_by_label("Email").fill("ada@example.com")
        page.get_by_label("Password").fill("pw-123")
        name = "Create account"
        if changed == "label_reworded":  # other words: the old name really is gone
            assert page.get_by_role("button", name=name).count() == 0
            name = "Sign up"
        button = page.get_by_role("button", name=name)
        if button.count() != 1:
            return False, changed
        button.click(timeout=5000)
        welcomed = page.get_by_text("Welcome aboard, Ada Lovelace!").is_visible()
        return welcomed, changed
    finally:
        env.close()


@pytest.mark.parametrize("kind", [None, *KEEPS, *BREAKS])
def test_change_keeps_or_breaks_the_signup(kind: str | None) -> None:
    with serve_changing(DEMO_APP) as server:
        server.apply(kind, "#submit", "#done")
        viewport, dpr = VIEWPORT_CHANGES.get(kind or "", ((1280, 720), 1.0))
        scripted = kind is not None and kind not in VIEWPORT_CHANGES
        welcomed, changed = _sign_up(server.url, viewport, dpr, scripted)
    if scripted:
        assert changed == kind, "the change script did not run on the served page"
    assert welcomed is (kind not in BREAKS), f"{kind}: welcomed={welcomed}"


def test_unknown_change_is_refused() -> None:
    with serve_changing(DEMO_APP) as server, pytest.raises(KeyError, match="unknown page change"):
        server.apply("no_such_change", "#submit")
