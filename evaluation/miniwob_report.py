"""MiniWoB results as papers report them: success rate and mean reward per task, the
average over tasks, with steps and seconds per step; every episode linked to its
trajectory, every miss listed with what the agent last said and why it ended."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from .miniwob import EpisodeResult, MiniWoBConfig
from .report import PIPELINE_CHECK, Cell, Section, number, percent, write_reports


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def task_summary(results: list[EpisodeResult]) -> dict[str, Any]:
    """Pipeline errors and skips are counted, not scored: they say nothing of the model."""
    scored = [r for r in results if r.outcome in ("success", "model_failure")]
    steps = [r for r in scored if r.steps]
    return {
        "episodes": len(results),
        "scored": len(scored),
        "success_rate": _mean([float(r.success) for r in scored]),
        "mean_reward": _mean([r.raw_reward for r in scored if r.raw_reward is not None]),
        "mean_steps": _mean([float(r.steps) for r in scored]),
        "mean_s_per_step": _mean([r.step_seconds / r.steps for r in steps]),
        "mean_model_s_per_step": _mean([r.model_seconds / r.steps for r in steps]),
        "pipeline_errors": sum(r.outcome == "pipeline_error" for r in results),
        "skipped": sum(r.outcome == "skipped" for r in results),
        "parse_errors": sum(r.parse_errors for r in results),
    }


def summarize(results: list[EpisodeResult]) -> dict[str, Any]:
    tasks: dict[str, list[EpisodeResult]] = {}
    for result in results:
        tasks.setdefault(result.task, []).append(result)
    per_task = {task: task_summary(rows) for task, rows in tasks.items()}
    rates = [s["success_rate"] for s in per_task.values() if s["success_rate"] is not None]
    rewards = [s["mean_reward"] for s in per_task.values() if s["mean_reward"] is not None]
    overall = task_summary(results)
    overall["task_average_success_rate"] = _mean(rates)  # what papers print: mean over tasks
    overall["task_average_reward"] = _mean(rewards)
    return {"tasks": per_task, "overall": overall}


def write_miniwob_report(
    out_dir: Path,
    config: MiniWoBConfig,
    results: list[EpisodeResult],
    *,
    backend: str,
    oracle: bool,
    wall_s: float,
) -> dict[str, Any]:
    summary = summarize(results)
    ran = [r for r in results if r.outcome != "skipped"]
    data = {
        "benchmark": "miniwob",
        "kind": "pipeline check (oracle)" if oracle else "model evaluation",
        "backend": backend,
        "config": config.model_dump(mode="json"),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "wall_s": wall_s,
        "episodes_per_minute": 60 * len(ran) / wall_s if wall_s > 0 else None,
        **summary,
        "episodes": [r.model_dump(mode="json") for r in results],
    }
    write_reports(out_dir, "MiniWoB++ evaluation", data, _sections(data, results, oracle))
    return data


def _browsers(config: dict[str, Any]) -> str:
    if config.get("shared_browser"):
        return "context(s) of one shared Chromium"
    return "browser(s)"


def _sections(data: dict[str, Any], results: list[EpisodeResult], oracle: bool) -> list[Section]:
    config, overall = data["config"], data["overall"]
    setup = (
        f"Backend: {data['backend']}. Dialect {config['dialect']}, viewport "
        f"{config['viewport'][0]}x{config['viewport'][1]} at DPR {config['dpr']:g}, max "
        f"{config['max_steps']} steps, seeds {config['seeds']}, {config['workers']} parallel "
        f"{_browsers(config)}; {len(results)} episodes in {data['wall_s']:.1f} s. Score: "
        "the task's raw reward (no time penalty); success: reward > 0."
    )
    sections = [Section("What was measured", PIPELINE_CHECK)] if oracle else []
    sections.append(Section("Setup", setup))
    headers = ["task", "success", "mean reward", "mean steps", "s/step", "pipeline errors"]
    rows: list[list[Cell | str]] = []
    for task, s in data["tasks"].items():
        rows.append([task, percent(s["success_rate"]), number(s["mean_reward"]),
                     number(s["mean_steps"], 1), number(s["mean_s_per_step"]),
                     f"{s['pipeline_errors']}" + (f" ({s['skipped']} skipped)" if s["skipped"]
                                                  else "")])  # fmt: skip
    rows.append([
        "average over tasks", percent(overall["task_average_success_rate"]),
        number(overall["task_average_reward"]), number(overall["mean_steps"], 1),
        number(overall["mean_s_per_step"]), str(overall["pipeline_errors"]),
    ])  # fmt: skip
    sections.append(Section("Per task", headers=headers, rows=rows))
    sections.append(_episodes(results))
    return sections


def _episodes(results: list[EpisodeResult]) -> Section:
    rows: list[list[Cell | str]] = []
    for r in results:
        link = f"{r.trajectory}/report.html" if r.trajectory else None
        ending = r.error or r.agent_reason or ""
        last = r.replies[-1] if r.replies else ""
        rows.append([Cell(f"{r.task} #{r.seed}", link), r.outcome, number(r.raw_reward),
                     str(r.steps), r.utterance or "", ending, last[:300]])  # fmt: skip
    headers = ["episode", "outcome", "reward", "steps", "utterance", "ended", "last reply"]
    return Section("Episodes", headers=headers, rows=rows)
