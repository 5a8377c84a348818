"""A run on the demo shop -> `pixelpilot testgen` -> pytest on the generated file, in
subprocesses, real headless Chromium, no model: it passes against the recorded server and
against a second server on another port (`--base-url`, the first one shut down); it fails
when the shop's success message no longer shows; it holds no secret; same run, same bytes;
ruff-clean at ruff's default settings and at pixelpilot's own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelpilot.agent.demo import (
    DEMO_APP,
    SIGNUP_PLAN,
    SIGNUP_TASK,
    PlanStep,
    serve_demo,
    serve_directory,
)
from pixelpilot.agent.loop import Agent, AgentConfig
from pixelpilot.agent.policy import Policy
from pixelpilot.environments import open_browser
from pixelpilot.environments._secret_fields import MASK_RGB
from pixelpilot.evaluation.oracle import OracleBackend
from pixelpilot.vlm import get_dialect

SECRET = "correct horse battery staple"
EXE = str(Path(sys.executable).parent / "pixelpilot")
TIMEOUT = 300  # seconds for one subprocess on a slow, shared machine


def _run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    return subprocess.run(
        [*args], capture_output=True, text=True, timeout=TIMEOUT, env=env, cwd=cwd
    )


def _pytest(test: Path, *options: str, secret: str | None = SECRET,
            extra_env: dict[str, str] | None = None):  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXELPILOT_")}
    env.pop("PASSWORD", None)
    if secret is not None:
        env["SHOP_PASSWORD"] = secret
    env.update(extra_env or {})
    return _run(
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test), *options,
        env=env, cwd=test.parent,
    )  # fmt: skip


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A successful oracle run on the demo shop at DPR 1.5, its server kept up, and the
    test `pixelpilot testgen` wrote from it."""
    root = tmp_path_factory.mktemp("testgen")
    with serve_demo() as base:
        with open_browser(f"{base}/form.html", device_scale_factor=1.5) as env:
            typed = next(i for i, p in enumerate(SIGNUP_PLAN) if p.target == "{{password}}")
            again = PlanStep("click", "#password", "Click the Password field again.")
            plan = [*SIGNUP_PLAN[: typed + 1], again, *SIGNUP_PLAN[typed + 1 :]]
            backend = OracleBackend(env, plan, get_dialect("qwen2vl"))
            policy = Policy(allow_domains=(base.removeprefix("http://"),), approve=lambda *_: True)
            config = AgentConfig(record=root / "runs", max_steps=12, video=False, report=False)
            agent = Agent(backend, env, dialect="qwen2vl", config=config, policy=policy,
                          secrets={"password": SECRET})  # fmt: skip
            result = agent.run(SIGNUP_TASK)
        assert result.status == "success", result
        test = root / "suite" / "test_signup.py"
        made = _run(EXE, "testgen",
                    str(result.trajectory_dir), "-o", str(test),
                    "--secret", "password=SHOP_PASSWORD")  # fmt: skip
        assert made.returncode == 0, made.stderr
        yield {"base": base, "run": result.trajectory_dir, "test": test, "out": made.stdout}


def test_generated_test_reads_as_written_by_hand(recorded) -> None:
    source = recorded["test"].read_text()
    assert f'RECORDED_ORIGIN = "{recorded["base"]}"' in source
    assert 'page.goto(pilot.url("/form.html"))' in source
    assert 'page.get_by_role("textbox", name="Full name")' in source
    assert 'pilot.type(os.environ["SHOP_PASSWORD"])' in source
    # the success message appeared after the last click; the run's answer names Ada
    assert 'expect(page.get_by_text("Welcome aboard, Ada Lovelace!").first)' in source
    assert 'expect(page).to_have_title("Sign up - Pilot Shop")' in source
    assert "run it: pytest" in recorded["out"] and "$SHOP_PASSWORD" in recorded["out"]
    crops = recorded["test"].parent / "__pixelpilot__" / "test_create_an_account_on_pilot_shop"
    assert sorted(p.name for p in crops.iterdir()) == [
        "step-01.png", "step-03.png", "step-05.png", "step-07.png", "step-08.png", "steps.json",
    ]  # fmt: skip


def test_the_crop_of_the_field_holding_the_secret_is_masked(recorded) -> None:
    """Step 7 clicks the password field after the secret was typed: its crop comes from the
    recorded screenshot, where the controller painted the field over."""
    crops = recorded["test"].parent / "__pixelpilot__" / "test_create_an_account_on_pilot_shop"
    table = json.loads((crops / "steps.json").read_text())
    assert table["07"]["description"] == "Click the Password field again."
    pixels = np.asarray(Image.open(crops / "step-07.png").convert("RGB"))
    inner = pixels[6:-6, 6:-6]  # inside the field's border
    assert (inner == MASK_RGB).all(axis=-1).mean() > 0.9
    before = np.asarray(Image.open(crops / "step-05.png").convert("RGB"))[6:-6, 6:-6]
    assert not (before == MASK_RGB).all(axis=-1).any()  # before the typing: not masked


def test_generated_test_passes_on_the_recorded_server_then_on_another_port(recorded) -> None:
    first = _pytest(recorded["test"], "--pixelpilot-heal", "off")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "1 passed" in first.stdout
    # a copy on a new port; the recorded origin is down meanwhile, so only --base-url works
    with serve_directory(DEMO_APP) as other:
        assert other != recorded["base"]
        second = _pytest(recorded["test"], "--base-url", other, "--pixelpilot-heal", "off")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "1 passed" in second.stdout


def test_a_shop_that_no_longer_signs_up_fails_the_test(recorded, tmp_path) -> None:
    broken = tmp_path / "shop"
    shutil.copytree(DEMO_APP, broken)
    form = broken / "form.html"
    text = form.read_text()
    assert "document.getElementById('done').hidden = false;" in text
    form.write_text(text.replace("document.getElementById('done').hidden = false;", ""))
    with serve_directory(broken) as base:
        for heal in ("off", "on"):
            run = _pytest(recorded["test"], "--base-url", base, "--pixelpilot-heal", heal)
            assert run.returncode == 1, (heal, run.stdout + run.stderr)
            assert "Welcome aboard, Ada Lovelace!" in run.stdout


def test_no_secret_in_any_generated_file(recorded) -> None:
    folder = recorded["test"].parent
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert len(files) >= 6
    for path in files:
        data = path.read_bytes()
        assert SECRET.encode() not in data, path
        assert SECRET.replace(" ", "").encode() not in data, path


def test_same_run_same_bytes(recorded, tmp_path) -> None:
    again = tmp_path / "elsewhere" / "test_signup.py"
    made = _run(EXE, "testgen", str(recorded["run"]),
                "-o", str(again), "--secret", "password=SHOP_PASSWORD")  # fmt: skip
    assert made.returncode == 0, made.stderr
    first, second = recorded["test"].parent, again.parent
    names = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


@pytest.mark.parametrize("width", ["88", "100"])
def test_generated_file_is_ruff_clean(recorded, width) -> None:
    path = str(recorded["test"])
    ruff = [sys.executable, "-m", "ruff"]
    rules = "E,F,W,I,B,UP,SIM,RUF"  # pixelpilot's own selection; pixelpilot is third-party
    # where a generated test lives, so isort wants it in one block with playwright
    checks = [
        [*ruff, "check", "--isolated", "--line-length", width, path],
        [*ruff, "check", "--isolated", "--line-length", width, "--select", rules, path],
        [*ruff, "format", "--check", "--isolated", "--line-length", width, path],
    ]  # fmt: skip
    for command in checks:
        done = _run(*command)
        assert done.returncode == 0, (command, done.stdout, done.stderr)


def test_a_pilot_script_run_becomes_a_passing_test(tmp_path) -> None:
    from pixelpilot.agent import Pilot
    from tests.integration.pilot_fixtures import dom_grounder

    targets = {"the Full name field": "#name", "the Email field": "#email",
               "the Password field": "#password", "the Create account button": "#submit"}  # fmt: skip
    replies = {"welcomes": ['{"answer": "yes", "reason": "Welcome aboard, Ada Lovelace!"}']}
    with serve_demo() as base, open_browser(f"{base}/form.html") as env:
        grounder = dom_grounder(env, "qwen25vl", targets, replies=replies)
        policy = Policy(allow_domains=(base.removeprefix("http://"),), approve=lambda *_: True)
        with Pilot(env, grounder, dialect="qwen25vl", record=tmp_path / "runs", policy=policy,
                   secrets={"password": SECRET}, cache="off", name="Sign up Ada") as pilot:  # fmt: skip
            pilot.type("the Full name field", "Ada Lovelace")
            pilot.type("the Email field", "ada@example.com")
            pilot.type("the Password field", "{{password}}")
            pilot.click("the Create account button")
            pilot.expect("the page welcomes Ada Lovelace")
            run_dir = pilot.run_dir
        test = tmp_path / "suite" / "test_pilot_signup.py"
        made = _run(EXE, "testgen", str(run_dir), "-o", str(test))
        assert made.returncode == 0, made.stderr
        source = test.read_text()
        assert '"the Full name field",' in source and "pilot.fill(" in source
        assert 'os.environ["PASSWORD"]' in source and SECRET not in source
        assert 'expect(page.get_by_text("Welcome aboard, Ada Lovelace!").first)' in source
        run = _pytest(test, "--pixelpilot-heal", "off", secret=None)
    assert run.returncode == 1  # $PASSWORD is not set: the test says so, it types nothing
    assert "KeyError: 'PASSWORD'" in run.stdout
    with serve_directory(DEMO_APP) as other:
        env = {"PASSWORD": SECRET}
        run = _pytest(test, "--base-url", other, "--pixelpilot-heal", "off", extra_env=env)
    assert run.returncode == 0, run.stdout + run.stderr
