"""report.html opened from disk in real headless Chromium: every step shows, every image
loads, with no server and no network (the page's CSP would block anything else)."""

from __future__ import annotations

import pytest

from tests.unit.agent.test_video_report import SIZES, make_run

pytest.importorskip("playwright")


@pytest.mark.parametrize("torn", [False, True], ids=["complete", "torn"])
def test_report_shows_every_step_and_every_image_loads(tmp_path, torn) -> None:
    from pixelpilot.agent.report import render_report
    from pixelpilot.environments import open_browser

    report = render_report(make_run(tmp_path / "run", torn=torn))
    with open_browser(report.resolve().as_uri()) as env:
        page = env.page
        page.wait_for_load_state("load")
        sections = page.locator("section.step")
        assert sections.count() == len(SIZES)
        for index in range(len(SIZES)):
            section = page.locator(f"#step-{index}")
            section.scroll_into_view_if_needed()
            assert section.is_visible()
        images = page.evaluate(
            "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
        )
        assert len(images) == len(SIZES)
        assert all(complete and width > 0 and height > 0 for complete, width, height in images)
        assert page.evaluate("document.querySelectorAll('script').length") == 0
        page.click("nav a[href='#step-2']")  # the table of contents works without script
        assert page.evaluate("location.hash") == "#step-2"
