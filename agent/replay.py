"""Replay a recorded run without the model: the same actions, in screenshot pixels, on
a fresh browser (or the desktop), checking step by step that the screen still looks as
it did when the run was recorded. UI test generation builds on this."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pixelpilot.tools import ActionAdapter, CallUser, Finish

from .trajectory import read_trajectory


@dataclass
class ReplayReport:
    lines: list[str] = field(default_factory=list)
    changed_steps: list[int] = field(default_factory=list)
    failed_actions: int = 0

    @property
    def matches(self) -> bool:
        return not self.changed_steps and not self.failed_actions


def difference(recorded: Any, now: Any) -> float:
    """Fraction of pixels that changed visibly (any channel by more than 16 levels)."""
    import numpy as np

    if recorded.size != now.size:
        return 1.0
    a = np.asarray(recorded.convert("RGB"), dtype=np.int16)
    b = np.asarray(now.convert("RGB"), dtype=np.int16)
    return float((np.abs(a - b).max(axis=-1) > 16).mean())


def _moved(action: Any, origin: str | None) -> Any:
    """A recorded Navigate pointed at the site's new origin."""
    from urllib.parse import urlsplit

    from pixelpilot.tools import Navigate

    if origin is None or not isinstance(action, Navigate):
        return action
    parts = urlsplit(action.url)
    if parts.scheme not in ("http", "https"):
        return action
    query = f"?{parts.query}" if parts.query else ""
    return action.model_copy(update={"url": origin.rstrip("/") + parts.path + query})


def _open(steps: list[dict[str, Any]], header: dict[str, Any], origin: str | None) -> Any:
    from urllib.parse import urlsplit

    from pixelpilot.environments import open_browser, open_desktop

    first = dict(steps[0])
    if origin and first.get("url"):  # the recorded site now lives elsewhere (a new port)
        parts = urlsplit(first["url"])
        first["url"] = origin.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")
    if header.get("environment") == "DesktopEnvironment":
        return open_desktop(scale=first["frame"]["scale"])
    frame = first["frame"]
    viewport = (round(frame["width"] / frame["scale"]), round(frame["height"] / frame["scale"]))
    return open_browser(first.get("url"), viewport=viewport, device_scale_factor=frame["scale"])


def replay_run(
    run_dir: Path,
    *,
    tolerance: float = 0.02,
    origin: str | None = None,
    secrets: dict[str, str] | None = None,
) -> ReplayReport:
    """Replay `run_dir`; `origin` (scheme://host:port) replaces the recorded one, and
    `secrets` fill the `{{name}}` placeholders the recording kept (else typed as is)."""
    from .secrets import Secrets

    filler = Secrets(secrets)
    from PIL import Image

    run = read_trajectory(run_dir)
    steps, report = run["steps"], ReplayReport()
    if not steps:
        report.lines.append("the recording has no steps: nothing to replay")
        report.failed_actions += 1
        return report
    with _open(steps, run["header"], origin) as env:
        for step in steps:
            now = env.observe().image
            recorded = Image.open(Path(run["run_dir"]) / step["screenshot"])
            changed = difference(recorded, now)
            verdict = (
                "matches" if changed <= tolerance else f"CHANGED ({changed:.1%} of pixels differ)"
            )
            if changed > tolerance:
                report.changed_steps.append(step["step"])
            report.lines.append(f"step {step['step'] + 1:>3}: screen {verdict}")
            for recorded_action, result in zip(step["actions"], step["results"], strict=False):
                action = ActionAdapter.validate_python(recorded_action["screenshot"])
                if isinstance(action, Finish | CallUser) or not result.get("ok"):
                    continue
                outcome = env.execute(filler.substitute(_moved(action, origin)))
                if not outcome.ok:
                    report.failed_actions += 1
                    report.lines.append(f"           {action.action} failed now: {outcome.error}")
    end = run["end"] or {}
    summary = (
        "the run replays as recorded" if report.matches else "the run no longer replays as recorded"
    )
    report.lines.append(
        f"{summary} ({len(steps)} steps; recorded status {end.get('status', 'unfinished')})"
    )
    return report
