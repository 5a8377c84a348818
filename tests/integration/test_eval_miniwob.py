"""`pixelpilot eval miniwob` end to end: real MiniWoB pages, the real agent loop, the real
browser controller, and the oracle speaking every dialect's exact words.

The oracle (DOM solver + the model's documented words, computed by
`evaluation.oracle_words` without the pipeline's formatters, resize or conversion)
reaching raw reward 1 means resize, prompt, parsing, coordinate mapping and the
controller lost nothing, at DPR 1 and 2.
A wrong click must get the task's failure reward; a browser that dies is a pipeline
error that does not stop the other episodes; parallel runs equal serial ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pixelpilot.evaluation.miniwob import (
    EpisodeResult,
    MiniWoBConfig,
    oracle_backends,
    run_episodes,
)
from pixelpilot.evaluation.miniwob_pages import Episode
from pixelpilot.evaluation.miniwob_report import write_miniwob_report
from pixelpilot.evaluation.miniwob_solvers import by_text, click, parse_utterance
from pixelpilot.evaluation.oracle import SolverOracle
from pixelpilot.tools import Action, Click, Point, Space
from pixelpilot.vlm import DIALECTS, get_dialect

TASKS = ["click-button", "click-checkboxes", "enter-text", "login-user", "drag-box",
         "scroll-text-2"]  # fmt: skip


def _run(config: MiniWoBConfig, url: str, out: Path, **kwargs: Any) -> list[EpisodeResult]:
    return run_episodes(config, kwargs.pop("backends", oracle_backends(config)), url, out,
                        oracle=True, **kwargs)  # fmt: skip


@pytest.mark.parametrize("dpr", [1.0, 2.0], ids=["dpr1", "dpr2"])
@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_oracle_reaches_raw_reward_1_in_every_dialect(
    dialect: str,
    dpr: float,
    miniwob_url: str,
    tmp_path: Path,
) -> None:
    config = MiniWoBConfig(tasks=TASKS, seeds=[3], dialect=dialect, dpr=dpr)
    results = _run(config, miniwob_url, tmp_path)
    assert [(r.task, r.outcome, r.raw_reward) for r in results] == [
        (task, "success", 1.0) for task in TASKS
    ], [(r.task, r.error, r.replies) for r in results if r.outcome != "success"]
    for result in results:  # the replies are the dialect's own words, parsed back
        assert result.parse_errors == 0 and result.failed_actions == 0
        assert all(get_dialect(dialect).parse(reply) for reply in result.replies)


def test_the_report_links_every_episode_and_says_it_is_a_pipeline_check(
    miniwob_url: str,
    tmp_path: Path,
) -> None:
    config = MiniWoBConfig(tasks=["click-button", "enter-text"], seeds=[1, 2], dialect="qwen2vl")
    results = _run(config, miniwob_url, tmp_path)
    data = write_miniwob_report(tmp_path, config, results, backend="oracle", oracle=True,
                                wall_s=3.0)  # fmt: skip
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["kind"] == "pipeline check (oracle)" and saved["overall"] == data["overall"]
    assert saved["tasks"]["enter-text"]["success_rate"] == 1.0
    assert saved["tasks"]["enter-text"]["mean_steps"] == 3.0  # click, type, submit
    logged = [json.loads(line) for line in (tmp_path / "episodes.jsonl").read_text().splitlines()]
    assert sorted((e["task"], e["seed"]) for e in logged) == [(r.task, r.seed) for r in results]
    markdown, html = (tmp_path / "report.md").read_text(), (tmp_path / "report.html").read_text()
    assert "PIPELINE CHECK, not model accuracy" in markdown and "class='note'" in html
    for result in results:
        trajectory = tmp_path / result.trajectory
        assert (trajectory / "trajectory.jsonl").is_file() and (
            trajectory / "report.html"
        ).is_file()
        assert f"{result.trajectory}/report.html" in markdown and result.trajectory in html


def _wrong_button(env: Any, utterance: str) -> Iterator[Action]:
    target = parse_utterance(r'Click on the "(.+)" button\.', utterance)[1]
    labels = [b["text"] for b in env.page.evaluate(
        "() => [...document.querySelectorAll('#area button')].map(b => ({text: b.textContent}))"
    )]  # fmt: skip
    wrong = next(label for label in labels if label != target)
    yield click(env, by_text(env, "#area button", wrong))


def _solver_backends(config: MiniWoBConfig, solver: Any) -> Any:
    def make(env: Any, episode: Episode) -> SolverOracle:
        return SolverOracle(env, solver, episode.utterance, get_dialect(config.dialect))

    return make


def test_a_wrong_click_gets_the_failure_reward(miniwob_url: str, tmp_path: Path) -> None:
    # seeds 3 and 6 of click-button show more than one button
    config = MiniWoBConfig(tasks=["click-button"], seeds=[3, 6], dialect="uitars")
    results = _run(config, miniwob_url, tmp_path, backends=_solver_backends(config, _wrong_button))
    assert [(r.outcome, r.raw_reward, r.steps) for r in results] == [("model_failure", -1.0, 1)] * 2


def _kill_the_browser(env: Any, utterance: str) -> Iterator[Action]:
    env.context.browser.close()  # as if Chromium crashed while the model was thinking
    yield Click(point=Point(x=10, y=10, space=Space.SCREENSHOT_PX))


def test_a_dead_browser_is_a_pipeline_error_and_the_next_episode_runs(
    miniwob_url: str,
    tmp_path: Path,
) -> None:
    config = MiniWoBConfig(tasks=["click-button", "enter-text"], seeds=[1], dialect="qwen25vl")
    solvers = {"click-button": _kill_the_browser}

    def make(env: Any, episode: Episode) -> SolverOracle:
        from pixelpilot.evaluation.miniwob_solvers import SOLVERS

        solver = solvers.get(episode.task, SOLVERS[episode.task])
        return SolverOracle(env, solver, episode.utterance, get_dialect(config.dialect))

    first, second = _run(config, miniwob_url, tmp_path, backends=make)
    assert first.outcome == "pipeline_error" and first.error
    assert (second.task, second.outcome, second.raw_reward) == ("enter-text", "success", 1.0)
    # the dead episode's trajectory is still a valid record up to its last step
    lines = (tmp_path / first.trajectory / "trajectory.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["type"] == "header" and json.loads(lines[-1])["type"] == "end"


def test_parallel_runs_equal_serial_runs(miniwob_url: str, tmp_path: Path) -> None:
    """Three browsers, and three contexts of one shared Chromium, give exactly what one
    browser gives: same episodes, replies (so same pixels) and rewards."""
    tasks = ["click-button", "click-checkboxes", "enter-text", "scroll-text-2"]

    def outcome(workers: int, shared: bool = False) -> list[tuple]:
        config = MiniWoBConfig(tasks=tasks, seeds=[4, 5, 6], dialect="showui", workers=workers,
                               shared_browser=shared)  # fmt: skip
        results = _run(config, miniwob_url, tmp_path / f"workers{workers}-{shared}")
        return [(r.task, r.seed, r.utterance, r.outcome, r.raw_reward, r.steps, r.replies)
                for r in results]  # fmt: skip

    serial, parallel, contexts = outcome(1), outcome(3), outcome(3, shared=True)
    assert [(t, s) for t, s, *_ in serial] == [(t, s) for t in tasks for s in (4, 5, 6)]
    assert parallel == serial
    assert contexts == serial


def test_a_crashed_shared_browser_is_restarted_for_the_next_episode(
    miniwob_url: str, tmp_path: Path
) -> None:
    import os
    import signal

    from pixelpilot.environments import SharedChromium
    from tests.integration.browser_fixtures import chromium_under

    config = MiniWoBConfig(tasks=["click-button", "enter-text"], seeds=[1], dialect="uitars")
    with SharedChromium() as shared:

        def crash(env: Any, utterance: str) -> Iterator[Action]:
            os.kill(chromium_under(shared.pid)[0], signal.SIGKILL)  # dies as the model thinks
            yield Click(point=Point(x=10, y=10, space=Space.SCREENSHOT_PX))

        def make(env: Any, episode: Episode) -> SolverOracle:
            from pixelpilot.evaluation.miniwob_solvers import SOLVERS

            solver = crash if episode.task == "click-button" else SOLVERS[episode.task]
            return SolverOracle(env, solver, episode.utterance, get_dialect(config.dialect))

        opener = lambda: shared.open(viewport=config.viewport)  # noqa: E731
        first, second = _run(config, miniwob_url, tmp_path, backends=make, open_env=opener)
        assert first.outcome == "pipeline_error" and "closed" in (first.error or "")
        assert (second.outcome, second.raw_reward) == ("success", 1.0)
        assert shared.launches == 2


def test_a_real_model_runs_batched_and_its_failures_are_the_models(
    qwen2vl_backend: Any, miniwob_url: str, tmp_path: Path
) -> None:
    """The tiny random-weight Qwen2-VL answers nonsense: every episode must end as a
    model failure (never a pipeline error), and two browsers' requests share calls."""
    from pixelpilot.evaluation.miniwob import run_episodes
    from pixelpilot.vlm import GenerationParams
    from pixelpilot.vlm.batching import BatchingBackend

    config = MiniWoBConfig(tasks=["click-button"], seeds=[1, 2], dialect="qwen2vl", workers=2,
                           max_steps=2)  # fmt: skip
    shared = BatchingBackend(qwen2vl_backend, max_batch=2, max_wait_s=5.0)
    results = run_episodes(config, lambda env, episode: shared, miniwob_url, tmp_path)
    assert [r.outcome for r in results] == ["model_failure"] * 2, [r.error for r in results]
    assert all(r.raw_reward is not None and r.raw_reward <= 0 for r in results)
    assert all(r.steps >= 1 and r.replies for r in results)
    assert 2 in shared.batch_sizes  # the two episodes' steps went to the model together
    assert GenerationParams().temperature == 0  # greedy: the same run gives the same replies


def test_eval_miniwob_from_the_command_line(miniwob_url: str, tmp_path: Path, capsys) -> None:
    from pixelpilot.cli import main

    out = tmp_path / "out"
    argv = ["eval", "miniwob", "click-button", "enter-pass*", "--backend", "oracle", "--seeds",
            "1,2", "--dialect", "uitars15", "--dpr", "2", "--out", str(out), "--fail-under", "1"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "click-button #2: success reward +1.00" in printed
    assert "pipeline ceiling (oracle): 100.0% averaged over 2 tasks" in printed
    saved = json.loads((out / "results.json").read_text())
    assert set(saved["tasks"]) == {"click-button", "enter-password"}
    assert saved["config"]["dpr"] == 2.0 and (out / "report.html").is_file()


def test_eval_miniwob_takes_the_pixel_limits(miniwob_url: str, tmp_path: Path, capsys) -> None:
    """--min-pixels reaches the episodes: 160x210 upscaled to at least 200,704 pixels for
    the oracle's words and for the pipeline's conversion alike (reward 1), on record."""
    from pixelpilot.agent.trajectory import read_trajectory
    from pixelpilot.cli import main

    out = tmp_path / "out"
    argv = ["eval", "miniwob", "click-button", "--backend", "oracle", "--seeds", "1",
            "--dialect", "qwen25vl", "--min-pixels", "200704", "--max-pixels", "1003520",
            "--out", str(out), "--fail-under", "1"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr()
    saved = json.loads((out / "results.json").read_text())
    assert (saved["config"]["min_pixels"], saved["config"]["max_pixels"]) == (200704, 1003520)
    (record,) = (out / "episodes").rglob("trajectory.jsonl")
    config = read_trajectory(record.parent)["header"]["config"]
    assert (config["min_pixels"], config["max_pixels"]) == (200704, 1003520)


def test_eval_miniwob_usage_errors_exit_2(capsys) -> None:
    from pixelpilot.cli import main

    assert main(["eval", "miniwob", "no-such-task", "--backend", "oracle"]) == 2
    assert "no MiniWoB task matches 'no-such-task'" in capsys.readouterr().err
    assert main(["eval", "miniwob", "click-button", "--backend", "oracle", "--seeds", "x"]) == 2
    assert main(["eval", "miniwob", "click-button", "--backend", "openai"]) == 2  # no --base-url


def test_no_browser_to_share_exits_as_a_broken_environment(capsys, monkeypatch, tmp_path) -> None:
    from pixelpilot.agent.commands import EXIT
    from pixelpilot.cli import main
    from pixelpilot.environments import ControllerError, shared

    def no_chromium() -> str:
        raise ControllerError("no Chromium found: install Debian's chromium")

    monkeypatch.setattr(shared, "find_chromium", no_chromium)
    argv = ["eval", "miniwob", "click-button", "--backend", "oracle", "--shared-browser",
            "--seeds", "1", "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == EXIT["controller"] == 6  # agent/commands.py: the environment broke
    assert "no Chromium found" in capsys.readouterr().err


def test_no_episode_scored_is_not_a_pass(capsys, monkeypatch, tmp_path) -> None:
    """Every episode a pipeline error (no browser opens for any of them): nothing was
    measured, so the command fails (exit 1) and says why, without --strict."""
    from pixelpilot.cli import main
    from pixelpilot.environments import ControllerError, browser

    def no_chromium() -> str:
        raise ControllerError("no Chromium found: install Debian's chromium")

    monkeypatch.setattr(browser, "find_chromium", no_chromium)
    out = tmp_path / "out"
    argv = ["eval", "miniwob", "click-button", "--backend", "oracle", "--seeds", "1,2",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "click-button #1: pipeline_error" in captured.out
    assert "no episode could be scored: 2 of 2 ended in a pipeline error" in captured.err
    saved = json.loads((out / "results.json").read_text())
    assert saved["overall"]["pipeline_errors"] == 2 and saved["overall"]["scored"] == 0


def test_task_selection_by_name_glob_and_preset() -> None:
    from pixelpilot.evaluation.miniwob_pages import PRESETS, select_tasks
    from pixelpilot.evaluation.miniwob_solvers import SOLVERS

    for preset in PRESETS.values():  # the oracle can measure every preset task
        assert set(preset) <= set(SOLVERS)
    assert select_tasks(["quick"]) == list(PRESETS["quick"])
    assert select_tasks(["enter-text", "preset:quick"])[:2] == ["enter-text", "click-button"]
    assert select_tasks(["drag-sh*"]) == ["drag-shapes", "drag-shapes-2"]
    with pytest.raises(ValueError, match="presets: basic, quick"):
        select_tasks(["click-buton"])
