"""The healing runtime end to end: pytest runs a test file in the generated shape in a
subprocess, in real headless Chromium (the system one, through pytest-playwright and the
plugin pixelpilot installs), against real served pages; its crops are cut from a real
screenshot of the recorded page. The model tier talks to a real OpenAI-compatible HTTP
server that grounds from the page's own layout (tests/fixtures/testgen/heal_site.py).

Covered: a test passes as recorded with heal off; a renamed-and-moved button is healed by
the visual tier (a warning, the summary names the tier), a renamed-and-recoloured one only
by the model tier; `rewrite` edits the file (diff printed) so that it then passes with heal
off; two look-alike buttons are a miss; every regression (target removed, another button
in its place, handler broken, success text changed) fails in every heal mode and with the
model tier, with the description, the tiers tried and an existing screenshot named.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.testgen.heal_site import (
    CREATE_BUTTON,
    PASSWORD_FIELD,
    PLAYWRIGHT_VIEWPORT,
    REGRESSIONS,
    SECRET,
    VARIANTS,
    Grounding,
    css_boxes,
    record,
    run_pytest,
    serve_variants,
    write_generated,
)
from tests.integration.openai_fixtures import FakeServer

pytest.importorskip("pytest_playwright")
pytestmark = pytest.mark.slow

SUBMIT = 'pilot.click(page.locator("#submit"), "the \'Create account\' button", step=4'
BY_ROLE = 'page.get_by_role("button", name="Create account")'


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Every page variant on its own server: variant -> origin."""
    with serve_variants(tmp_path_factory.mktemp("heal"), *VARIANTS) as origins:
        yield origins


@pytest.fixture(scope="module")
def recording(site: dict[str, str]) -> dict[str, Any]:
    """The recorded screenshot (original page, 800x600 at DPR 1) and target boxes."""
    return record(site["original"] + "/signup.html")


@pytest.fixture
def grounding() -> Iterator[Grounding]:
    server = FakeServer()
    server.thread.start()
    yield Grounding(server)
    server.httpd.shutdown()
    server.httpd.server_close()


def suite(tmp_path: Path, site: dict[str, str], recording: dict[str, Any], *variants: str,
          per_variant: bool = False) -> Path:  # fmt: skip
    """A folder with one generated test file per variant (named test_<variant> when
    `per_variant`, else test_create_account), each recorded against that variant's origin."""
    folder = tmp_path / "suite"
    folder.mkdir()
    for variant in variants:
        name = f"test_{variant}" if per_variant else "test_create_account"
        write_generated(folder, site[variant], recording, name=name)
    return folder


def assert_no_secret(folder: Path, output: str) -> None:
    """The password typed from $SHOP_PASSWORD is in no output, file or screenshot name."""
    assert SECRET not in output
    for path in folder.rglob("*"):
        assert SECRET not in path.name
        if path.is_file() and path.suffix in (".py", ".xml", ".json", ".txt", ".log"):
            assert SECRET not in path.read_text(encoding="utf-8", errors="replace"), path


def at_dpr_2(folder: Path) -> None:
    """A conftest that runs the suite's pages at device pixel ratio 2."""
    (folder / "conftest.py").write_text(
        "import pytest\n\n\n@pytest.fixture(scope='session')\n"
        "def browser_context_args(browser_context_args):\n"
        "    return {**browser_context_args, 'device_scale_factor': 2}\n"
    )


def not_healed(output: str) -> bool:
    return "pixelpilot healed steps" not in output and "HealWarning" not in output


def assert_failure_names_everything(message: str, *tiers: str, target: str = CREATE_BUTTON) -> None:
    assert target in message
    assert "tiers tried: " + "; ".join(tiers) in re.sub(r" \([^;]*\)", "", message), message
    shot = re.search(r"screenshot: (\S+\.png)", message)
    assert shot is not None, message
    assert Path(shot.group(1)).is_file()


def test_passes_as_recorded_with_heal_off(tmp_path, site, recording) -> None:
    folder = suite(tmp_path, site, recording, "original")
    run = run_pytest(folder, "--pixelpilot-heal=off")
    assert run.tests == {"test_create_account": "passed"}, run.output
    assert not_healed(run.output)


def test_visual_tier_heals_a_renamed_moved_button(tmp_path, site, recording) -> None:
    folder = suite(tmp_path, site, recording, "renamed_moved")
    run = run_pytest(folder)  # heal defaults to on
    assert run.tests == {"test_create_account": "passed"}, run.output
    assert "pixelpilot healed steps" in run.output
    assert re.search(
        rf"test_create_account.py::test_create_account\S* step 4: {re.escape(CREATE_BUTTON)} -> visual tier",
        run.output,
    )
    assert (
        "HealWarning: step 4 (the 'Create account' button) healed by the visual tier" in run.output
    )
    assert "1 passed" in run.output
    before = (folder / "test_create_account.py").read_text()
    assert SUBMIT in before  # `on` never edits the file

    off = run_pytest(folder, env={"PIXELPILOT_HEAL": "off"})  # the option from the environment
    assert off.tests == {"test_create_account": "failure"}, off.output
    assert_failure_names_everything(off.messages["test_create_account"], "locator")
    assert "matched 0 elements" in off.messages["test_create_account"]


def test_rewrite_makes_a_file_that_passes_with_heal_off(tmp_path, site, recording) -> None:
    folder = suite(tmp_path, site, recording, "renamed_moved")
    path = folder / "test_create_account.py"
    before = path.read_text()
    run = run_pytest(folder, "--pixelpilot-heal=rewrite")
    assert run.tests == {"test_create_account": "passed"}, run.output
    after = path.read_text()
    assert after == before.replace('page.locator("#submit")', BY_ROLE)
    assert f"pixelpilot rewrote {path}" in run.output
    assert f"-    {SUBMIT}" in run.output
    assert "+    pilot.click(" + BY_ROLE in run.output

    again = run_pytest(folder, "--pixelpilot-heal=off")
    assert again.tests == {"test_create_account": "passed"}, again.output
    assert not_healed(again.output)


def test_model_tier_heals_what_the_visual_tier_cannot(tmp_path, site, recording, grounding) -> None:
    url = site["renamed_recoloured"] + "/signup.html"
    grounding.boxes[CREATE_BUTTON] = css_boxes(url, {"b": "#create"})["boxes"]["b"]
    folder = suite(tmp_path, site, recording, "renamed_recoloured")

    alone = run_pytest(folder)  # no model: the recoloured crop is found nowhere
    assert alone.tests == {"test_create_account": "failure"}, alone.output
    message = alone.messages["test_create_account"]
    assert_failure_names_everything(message, "locator", "visual")
    assert "the target changed" in message or "the best place scores" in message

    run = run_pytest(folder, *grounding.options())
    assert run.tests == {"test_create_account": "passed"}, run.output
    assert f"step 4: {CREATE_BUTTON} -> model tier" in run.output
    asked = [(text, size) for text, size in grounding.asked if CREATE_BUTTON in text]
    assert any(size == PLAYWRIGHT_VIEWPORT for _, size in asked)  # the whole screenshot
    checks = [size for text, size in asked if "Is the following statement true" in text]
    assert checks and all(w < 400 and h < 120 for w, h in checks)  # the yes/no on a crop

    path = folder / "test_create_account.py"
    rewrite = run_pytest(folder, env={"PIXELPILOT_HEAL": "rewrite", **grounding.environment()})
    assert rewrite.tests == {"test_create_account": "passed"}, rewrite.output
    assert BY_ROLE in path.read_text()
    again = run_pytest(folder, "--pixelpilot-heal=off")
    assert again.tests == {"test_create_account": "passed"}, again.output


def test_visual_tier_finds_a_target_moved_below_the_fold(tmp_path, site, recording) -> None:
    folder = suite(tmp_path, site, recording, "renamed_below_fold")
    run = run_pytest(folder)
    assert run.tests == {"test_create_account": "passed"}, run.output
    assert f"step 4: {CREATE_BUTTON} -> visual tier" in run.output


def test_two_lookalikes_are_a_miss(tmp_path, site, recording) -> None:
    folder = suite(tmp_path, site, recording, "lookalikes")
    run = run_pytest(folder)
    assert run.tests == {"test_create_account": "failure"}, run.output
    message = run.messages["test_create_account"]
    assert "ambiguous: two places alike" in message
    assert_failure_names_everything(message, "locator", "visual")


@pytest.mark.parametrize("mode", ["off", "on", "rewrite", "on+model", "rewrite+model", "on@dpr2"])
def test_every_regression_fails_in_every_mode(tmp_path, site, recording, grounding, mode) -> None:
    folder = suite(tmp_path, site, recording, *REGRESSIONS, per_variant=True)
    originals = {p.name: p.read_text() for p in folder.glob("test_*.py")}
    args = [f"--pixelpilot-heal={mode.split('+')[0].split('@')[0]}"]
    if mode.endswith("@dpr2"):  # the scaled search is looser: it must still catch them
        at_dpr_2(folder)
    if mode.endswith("+model"):
        # a misled model: the old place (now empty) or the Cancel button now there,
        # which the yes/no check on its crop rejects
        grounding.boxes[CREATE_BUTTON] = recording["boxes"]["04"]
        grounding.verdicts[CREATE_BUTTON] = "no"
        args += grounding.options()
    run = run_pytest(folder, *args)
    assert run.tests == {f"test_{v}": "failure" for v in REGRESSIONS}, run.output
    assert not_healed(run.output)
    assert {p.name: p.read_text() for p in folder.glob("test_*.py")} == originals
    tiers = ["locator"] if mode == "off" else ["locator", "visual"]
    tiers += ["model"] if mode.endswith("+model") else []
    for variant in ("removed", "removed_cancel"):
        assert_failure_names_everything(run.messages[f"test_{variant}"], *tiers)
    assert_failure_names_everything(run.messages["test_password_gone"], *tiers,
                                    target=PASSWORD_FIELD)  # fmt: skip
    assert_no_secret(folder, run.output)
    for variant in ("handler_broken", "text_changed"):  # the assertion, never healed
        message = run.messages[f"test_{variant}"]
        assert "Account created for Ada Lovelace" in message and "to_be_visible" in message
    if mode.endswith("+model"):
        assert "is not interactive" in run.messages["test_removed"]
        assert "the model found none" in run.messages["test_password_gone"]
        assert "does not confirm" in run.messages["test_removed_cancel"]


def test_bad_options_are_a_usage_error(tmp_path, site, recording) -> None:
    folder = suite(tmp_path, site, recording, "original")
    run = run_pytest(folder, "--pixelpilot-heal=sometimes")
    assert run.rc == 4 and "--pixelpilot-heal must be off, on or rewrite" in run.output
    run = run_pytest(folder, "--pixelpilot-backend", "openai")
    assert run.tests == {"test_create_account": "error"}, run.output
    assert "needs --pixelpilot-base-url" in run.output
    shutil.rmtree(folder / "test-results", ignore_errors=True)


def test_visual_tier_heals_at_another_device_pixel_ratio(tmp_path, site, recording) -> None:
    """Recorded at DPR 1 (800x600), run at DPR 2 (pytest-playwright's 1280x720): the crop
    is scaled by 2 before the search."""
    folder = suite(tmp_path, site, recording, "renamed_moved")
    at_dpr_2(folder)
    run = run_pytest(folder)
    assert run.tests == {"test_create_account": "passed"}, run.output
    assert f"step 4: {CREATE_BUTTON} -> visual tier" in run.output


def test_a_projects_own_pilot_fixture_wins(tmp_path) -> None:
    """The plugin loads in every pytest run: a project's own `pilot` (as this project's
    suite and any user's may have) overrides it, and no browser is started for it."""
    folder = tmp_path / "own"
    folder.mkdir()
    (folder / "conftest.py").write_text(
        "import pytest\n\n\n@pytest.fixture\ndef pilot():\n    return 'mine'\n"
    )
    (folder / "test_own.py").write_text(
        "def test_own(pilot, request):\n"
        "    assert pilot == 'mine'\n"
        "    assert 'page' not in request.fixturenames\n"
    )
    run = run_pytest(folder)
    assert run.tests == {"test_own": "passed"}, run.output
