"""Replay a recorded run without the model: the same actions, in screenshot pixels, on
a fresh browser (or the desktop), checking step by step that the screen still looks as
it did when the run was recorded. UI test generation builds on this."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pixelpilot.tools import ActionAdapter, CallUser, Finish

from .trajectory import TrajectoryError, paired, read_trajectory

if TYPE_CHECKING:
    from .policy import Policy
    from .secrets import Secrets


@dataclass
class ReplayReport:
    lines: list[str] = field(default_factory=list)
    changed_steps: list[int] = field(default_factory=list)
    failed_actions: int = 0
    replayed_actions: int = 0  # actions run again on the screen

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


def _open(
    steps: list[dict[str, Any]], header: dict[str, Any], origin: str | None, domains: Any = None
) -> Any:
    from urllib.parse import urlsplit

    from pixelpilot.environments import open_browser, open_desktop

    first = dict(steps[0])
    if origin and first.get("url"):  # the recorded site now lives elsewhere (a new port)
        parts = urlsplit(first["url"])
        first["url"] = origin.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")
    frame = first["frame"]
    if header.get("environment") == "DesktopEnvironment":
        return open_desktop(monitor=recorded_region(frame), scale=frame["scale"])
    viewport = (round(frame["width"] / frame["scale"]), round(frame["height"] / frame["scale"]))
    return open_browser(
        first.get("url"), viewport=viewport, device_scale_factor=frame["scale"], domains=domains
    )


def recorded_region(frame: dict[str, Any]) -> tuple[int, int, int, int]:
    """The X-pixel region (left, top, width, height) a desktop run captured: its frame's
    origin (a second monitor's is not 0, 0) and its size in X pixels (screenshot pixels
    over the scale). Reopening that region, not monitor 1, replays on the same screen."""
    scale = float(frame.get("scale") or 1.0)
    left, top = (round(float(v)) for v in frame.get("origin") or (0, 0))
    width = round(int(frame["width"]) / scale)
    height = round(int(frame["height"]) / scale)
    return left, top, width, height


def _replayable(step: dict[str, Any], run_dir: str) -> list[Any]:
    """The actions of a step record that ran when it was recorded (not refused, not
    failed, not Finish or CallUser); an action the record holds in
    a form that does not validate is a `TrajectoryError` naming the step."""
    from pydantic import ValidationError

    out = []
    for recorded, _, result in paired(step):
        if not isinstance(result, dict) or not result.get("ok"):
            continue  # not run when recorded (refused, failed, never reached)
        try:
            action = ActionAdapter.validate_python((recorded or {}).get("screenshot"))
        except (ValidationError, AttributeError) as error:
            where = f"{run_dir}: step {step.get('step', '?')}"
            detail = error.errors()[0]["msg"] if isinstance(error, ValidationError) else error
            raise TrajectoryError(f"{where} holds an unreadable action: {detail}") from None
        if not isinstance(action, Finish | CallUser):
            out.append(action)
    return out


def replay_run(
    run_dir: Path,
    *,
    tolerance: float = 0.02,
    origin: str | None = None,
    secrets: dict[str, str] | Secrets | None = None,
    policy: Policy | None = None,
) -> ReplayReport:
    """Replay `run_dir`; `origin` (scheme://host:port) replaces the recorded one, and
    `secrets` fill the `{{name}}` placeholders the recording kept (else typed as is),
    under the same rules as a run: bound to their hosts (the replayed start page's when
    none are named), never into a URL, masked on screen. `policy` (default: the recorded
    run's domain lists, `Policy.recorded`, asking nothing) judges every action again, and
    its domain lists go to the browser, which holds redirects and new tabs to them."""
    from .policy import Policy
    from .secrets import Secrets
    from .video import load_screenshot

    filler = secrets if isinstance(secrets, Secrets) else Secrets(secrets)
    run = read_trajectory(run_dir)
    policy = policy if policy is not None else Policy.recorded(run["header"].get("policy"), origin)
    steps, report = run["steps"], ReplayReport()
    if not steps:
        report.lines.append("the recording has no steps: nothing to replay")
        report.failed_actions += 1
        return report
    if not isinstance(steps[0].get("frame"), dict) or "width" not in steps[0]["frame"]:
        raise TrajectoryError(f"{run['run_dir']}: step {steps[0].get('step')} has no frame")
    plans = [_replayable(step, run["run_dir"]) for step in steps]  # unreadable: say so first
    with _open(steps, run["header"], origin, policy.domains) as env:
        for step, plan in zip(steps, plans, strict=True):
            observation = env.observe()
            now = observation.image
            if step is steps[0]:
                filler = filler.bound(observation.url)
            recorded = load_screenshot(Path(run["run_dir"]), step)
            changed = 1.0 if recorded is None else difference(recorded, now)
            verdict = (
                "matches" if changed <= tolerance else f"CHANGED ({changed:.1%} of pixels differ)"
            )
            if changed > tolerance:
                report.changed_steps.append(step["step"])
            report.lines.append(f"step {step['step'] + 1:>3}: screen {verdict}")
            for action in plan:
                action = _moved(action, origin)
                decision = filler.decide(env, action, observation.url, policy)
                if decision.verdict == "deny":
                    report.failed_actions += 1
                    refused = f"           {action.action} refused now: {decision.reason}"
                    report.lines.append(refused)
                    continue
                outcome = filler.execute(env, action)
                report.replayed_actions += 1
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
