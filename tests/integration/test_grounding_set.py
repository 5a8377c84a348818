"""The grounding set builder on a small slice: three GOV.UK Frontend components (npm,
pinned) at one viewport and DPR 1 and 2, and two MiniWoB++ episodes (PyPI).

Every record is checked the way a model's answer would be: the page is opened again at
the same viewport, DPR and scroll (the same task and seed for MiniWoB), and pixelpilot's
controller clicks the box centre in screenshot pixels; a capture-phase listener records
where the click landed and stops it (nothing navigates or toggles), and that must be the
record's element, inside it, or its label.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops

from pixelpilot.agent.demo import serve_directory
from pixelpilot.evaluation.grounding_set import (
    GOVUK_FETCH,
    GOVUK_VERSION,
    MIN_SIDE,
    GovukMissing,
    build_grounding_set,
    find_govuk,
    open_page,
    scroll_to,
)
from pixelpilot.evaluation.miniwob_pages import start_episode
from pixelpilot.tools import Click, Point, Space
from pixelpilot.vlm import DIALECTS
from tests.integration.miniwob_fixtures import miniwob_url  # noqa: F401

GOVUK = (
    Path(__file__).resolve().parents[2] / ".cache" / f"govuk-frontend-{GOVUK_VERSION}" / "package"
)
COMPONENTS = ["button", "checkboxes", "header"]
VIEWPORT = (1280, 800)
DPRS = [1.0, 2.0]
TASKS = ["click-checkboxes", "login-user"]
SEEDS = [3]
KEYS = ["img_filename", "instruction", "bbox", "bbox_format", "data_type", "platform", "img_size",
        "source", "page", "viewport", "dpr", "scroll_y", "selector"]  # fmt: skip

# Where the next click lands, kept and stopped before any page code sees it: mousedown
# too, so focus does not move between the clicks on one screen.
LISTEN = """() => {
  window.__hits = [];
  const stop = (e) => { e.preventDefault(); e.stopImmediatePropagation(); };
  window.addEventListener('click', (e) => { window.__hits.push(e.target); stop(e); }, true);
  for (const type of ['mousedown', 'mouseup', 'pointerdown', 'pointerup']) {
    window.addEventListener(type, stop, true);
  }
}"""
LANDED = """(selector) => {
  const found = document.querySelectorAll(selector), hit = window.__hits.pop();
  window.__hits = [];
  if (found.length !== 1) return `the selector matches ${found.length} elements`;
  const el = found[0];
  if (!hit) return 'no click reached the page';
  if (hit === el || el.contains(hit) || hit.closest('label')?.control === el) return null;
  return 'the click reached ' + hit.outerHTML.slice(0, 160);
}"""


@pytest.fixture(scope="module")
def grounding_set(tmp_path_factory, miniwob_url) -> tuple[Path, Any, list[dict]]:  # noqa: F811
    """The slice, built once for the module: (folder, summary, records)."""
    if not (GOVUK / "package.json").is_file():
        message = f"govuk-frontend {GOVUK_VERSION} is not in {GOVUK.parent}: run `make govuk` ({GOVUK_FETCH})"
        if os.environ.get("CI"):
            pytest.fail(f"{message}, and CI is set: `make test` fetches it")
        pytest.skip(message)
    out = tmp_path_factory.mktemp("grounding")
    summary = build_grounding_set(
        out, govuk=GOVUK, viewports=[VIEWPORT], dprs=DPRS, components=COMPONENTS,
        miniwob_tasks=TASKS, seeds=SEEDS,
    )  # fmt: skip
    records = [json.loads(line) for line in (out / "grounding.jsonl").open()]
    return out, summary, records


def screens(records: list[dict]) -> dict[str, list[dict]]:
    """Records by image, in file order."""
    by_image: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_image[record["img_filename"]].append(record)
    return by_image


def reopen(env, record: dict, site_url: str, miniwob: str) -> None:
    """The record's screen again: the govuk page at its scroll, or the same episode."""
    if record["page"] is None:
        task, seed = re.fullmatch(r"miniwob/(.+)#seed(\d+)", record["source"]).groups()
        start_episode(env, miniwob, task, int(seed))
    else:
        open_page(env, f"{site_url}/{record['page']}")
    assert scroll_to(env, record["scroll_y"]) == record["scroll_y"]


def by_browser(records: list[dict]) -> dict[tuple, dict[str, list[dict]]]:
    """Screens by (viewport, DPR): one controller at a time (Playwright's sync API runs
    one instance a thread), so each set of screens gets its own in turn."""
    groups: dict[tuple, dict[str, list[dict]]] = defaultdict(dict)
    for image, group in screens(records).items():
        groups[(tuple(group[0]["viewport"]), group[0]["dpr"])][image] = group
    return groups


def click_failures(records: list[dict], out: Path, miniwob: str) -> list[str]:
    """Each record's box centre clicked through the controller, one page load per
    screen; what went wrong, one line per record."""
    from pixelpilot.environments import open_browser

    failures = []
    with serve_directory(out) as site_url:
        for (viewport, dpr), by_image in by_browser(records).items():
            with open_browser(viewport=viewport, device_scale_factor=dpr) as env:
                for image, group in by_image.items():
                    reopen(env, group[0], site_url, miniwob)
                    env.page.evaluate(LISTEN)
                    assert env.observe().image.size == tuple(group[0]["img_size"]), image
                    for record in group:
                        x1, y1, x2, y2 = record["bbox"]
                        centre = Point(x=(x1 + x2) / 2, y=(y1 + y2) / 2, space=Space.SCREENSHOT_PX)
                        result = env.execute(Click(point=centre))
                        problem = result.error or env.page.evaluate(LANDED, record["selector"])
                        if problem:
                            failures.append(f"{image}: {record['instruction']}: {problem}")
    return failures


def test_records_are_well_formed(grounding_set) -> None:
    out, summary, records = grounding_set
    assert summary.offsite == [] and summary.empty == []
    assert summary.records == len(records) > 0
    assert {r["source"].split("#")[0] for r in records} == {
        *(f"govuk-frontend@{GOVUK_VERSION}/{c}" for c in COMPONENTS),
        *(f"miniwob/{t}" for t in TASKS),
    }
    assert {r["data_type"] for r in records} == {"text", "icon"}
    for record in records:
        assert list(record) == KEYS
        assert record["bbox_format"] == "xyxy" and record["platform"] == "web"
        width, height = record["img_size"]
        assert [width, height] == [round(v * record["dpr"]) for v in record["viewport"]]
        x1, y1, x2, y2 = record["bbox"]
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height, record
        assert min(x2 - x1, y2 - y1) >= MIN_SIDE * record["dpr"] - 0.01, record
        assert re.fullmatch(r'the ".+" [a-z ]+', record["instruction"]), record
        if record["page"] is not None:
            assert (out / record["page"]).is_file()
    for image, group in screens(records).items():
        with Image.open(out / image) as png:
            assert list(png.size) == group[0]["img_size"]
        said = [r["instruction"].lower() for r in group]
        assert len(said) == len(set(said)), f"{image}: an instruction says two elements"
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted(
        Path(i).name for i in screens(records)
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["records"] == len(records)
    assert manifest["sources"]["govuk-frontend"] == GOVUK_VERSION


def test_a_click_at_each_box_centre_reaches_its_element(grounding_set, miniwob_url) -> None:  # noqa: F811
    out, _, records = grounding_set
    failures = click_failures(records, out, miniwob_url)
    assert not failures, "\n".join(failures)


def test_saved_screenshots_match_a_fresh_render(grounding_set, miniwob_url) -> None:  # noqa: F811
    """The image is what the page shows at that viewport, DPR and scroll: pixel for pixel
    in a fresh browser (no pointer moved, nothing focused)."""
    from pixelpilot.environments import open_browser

    out, _, records = grounding_set
    with serve_directory(out) as site_url:
        for (viewport, dpr), by_image in by_browser(records).items():
            with open_browser(viewport=viewport, device_scale_factor=dpr) as env:
                for image, group in by_image.items():
                    reopen(env, group[0], site_url, miniwob_url)
                    fresh = env.observe().image.convert("RGB")
                    with Image.open(out / image) as saved:
                        diff = ImageChops.difference(saved.convert("RGB"), fresh)
                    if group[0]["page"] is None:  # MiniWoB's clock ticks beside the task
                        diff = diff.crop((0, 0, 160 * dpr, 210 * dpr))
                    assert diff.getbbox() is None, f"{image} differs from a fresh render"


def tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_find_govuk_takes_the_tgz_the_package_or_its_parent(tmp_path, monkeypatch) -> None:
    """No browser, no real package: a stand-in tarball as `npm pack` lays it out."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    manifest = json.dumps({"name": "govuk-frontend", "version": GOVUK_VERSION}).encode()
    tgz = tarball(tmp_path / "govuk.tgz", {
        "package/package.json": manifest,
        "package/dist/govuk/components/button/fixtures.json": b"{}",
    })  # fmt: skip
    package = find_govuk(tgz)
    assert package.name == "package" and (package / "package.json").is_file()
    assert find_govuk(package) == package == find_govuk(package.parent)
    assert find_govuk(tgz) == package  # unpacked once, then found again
    with pytest.raises(GovukMissing, match=r"not 9\.9\.9"):
        find_govuk(package, version="9.9.9")
    with pytest.raises(GovukMissing, match=re.escape(GOVUK_FETCH)):
        find_govuk(tmp_path / "nowhere")
    for evil in ("../escaped.txt", "/abs.txt"):
        bad = tarball(tmp_path / "bad.tgz", {"package/package.json": manifest, evil: b"x"})
        with pytest.raises(GovukMissing, match="unsafe path"):
            find_govuk(bad)
    assert not (tmp_path / "escaped.txt").exists()


def test_build_then_evaluate_from_the_command_line(tmp_path: Path, capsys) -> None:
    """`pixelpilot eval build-grounding-set` then `eval grounding --backend oracle` on it."""
    from pixelpilot.cli import main

    data = tmp_path / "set"
    build = ["eval", "build-grounding-set", str(data), "--no-govuk", "--miniwob-task",
             "click-checkboxes", "--seeds", "2", "--viewport", "160x210", "--dpr", "2"]  # fmt: skip
    assert main(build) == 0
    assert "records (" in capsys.readouterr().out
    for dialect in sorted(DIALECTS):  # the oracle's ceiling, in every model's words
        argv = ["eval", "grounding", str(data / "grounding.jsonl"), "--backend", "oracle",
                "--dialect", dialect, "--out", str(tmp_path / dialect), "--fail-under", "1"]  # fmt: skip
        assert main(argv) == 0, dialect
        assert "pipeline ceiling (oracle): 100.0%" in capsys.readouterr().out, dialect


def test_a_missing_govuk_package_names_the_command_that_fetches_it(tmp_path: Path, capsys) -> None:
    from pixelpilot.cli import main

    argv = ["eval", "build-grounding-set", str(tmp_path / "set"), "--govuk",
            str(tmp_path / "nowhere"), "--no-miniwob"]  # fmt: skip
    assert main(argv) == 2
    assert "npm pack govuk-frontend@6.6.0" in capsys.readouterr().err


TWINS = """<!DOCTYPE html><body style="font: 16px sans-serif">
<h2>Home</h2>
<fieldset><legend>Where do you live?</legend>
  <label><input type="radio" name="a"> Yes</label> <label><input type="radio" name="a"> No</label>
</fieldset>
<h2>Work</h2>
<fieldset><legend>Where do you live?</legend>
  <label><input type="radio" name="b"> Yes</label> <label><input type="radio" name="b"> No</label>
</fieldset>
<fieldset><legend>Any pets?</legend><label><input type="radio" name="c"> Yes</label></fieldset>
<button>Delete</button> <button>Delete</button> <button>Save</button>
</body>"""


def test_twin_descriptions_say_which_one_or_are_dropped() -> None:
    """Same-named controls are told apart by their group's legend, then by the heading
    they sit under; those still alike (two "Delete" under "Work") are dropped."""
    from pixelpilot.environments import open_browser
    from pixelpilot.evaluation._grounding_js import ELEMENTS_JS
    from pixelpilot.evaluation.grounding_set import _SPAN_LINKS, MAX_NAME

    with open_browser(viewport=(800, 600)) as env:
        env.page.set_content(TWINS)
        limits = {"minSide": MIN_SIDE, "maxName": MAX_NAME, "links": _SPAN_LINKS}
        found = env.page.evaluate(ELEMENTS_JS, limits)
    assert [e["instruction"] for e in found["elements"]] == [
        'the "Yes" radio button under the "Home" heading',
        'the "No" radio button under the "Home" heading',
        'the "Yes" radio button under the "Work" heading',
        'the "No" radio button under the "Work" heading',
        'the "Yes" radio button in the "Any pets?" group',
        'the "Save" button',
    ]
    assert found["dropped"]["same description"] == 2
