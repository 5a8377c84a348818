"""`pixelpilot eval miniwob | grounding | build-grounding-set`.

Exit codes, the same family as `pixelpilot run`'s (`agent/commands.py`):

    0    the evaluation ran (whatever the score)
    1    the score is under `--fail-under`, or some episode hit a pipeline error with
         `--strict`
    2    usage error: a bad option, task name or seed list, a data file that is missing
         or that cannot mean what it says, an output folder that is not empty, no
         govuk-frontend package where `--govuk` (or the default cache) points
    3    the model's backend is missing or broken (cannot be loaded, server down)
    6    the environment cannot run: no browser, no MiniWoB pages (`pip install
         miniwob`), a missing optional package (ray for `--executor ray`), a Ray
         cluster that cannot be reached
    70   a bug in pixelpilot (`pixelpilot.cli` reports it with its traceback)
    130  stopped (Ctrl-C)

An error is one line on stderr, never a traceback (except for 70).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from pixelpilot.agent.commands import EXIT, UsageError, _backend, fail, guess_dialect, say
from pixelpilot.agent.run_options import check_screenshot_size, dpr_type, positive_int
from pixelpilot.tools import FixableError, InfrastructureError

from .executor import EXECUTORS, BackendRecipe, ExecutorMissing
from .progress import SweepProgress, sweep_progress

BACKENDS = ["oracle", "transformers", "openai"]
GOVUK_CACHE = Path(".cache/govuk-frontend-6.6.0/package")


def add_eval_commands(sub: Any, size_type: Any) -> None:
    p = sub.add_parser("eval", help="benchmarks: MiniWoB++ tasks and ScreenSpot-style grounding")
    evals = p.add_subparsers(dest="benchmark", required=True)
    m = evals.add_parser("miniwob", help="MiniWoB++ task success through the real agent loop")
    m.add_argument("tasks", nargs="*", help="task names, globs ('click-*') or presets (basic)")
    m.add_argument("--seeds", default="1-5", help="seeds: '1-5', '1,4,9' (one episode each)")
    m.add_argument(
        "--episodes", type=positive_int, help="episodes per task: N seeds from the first of --seeds"
    )
    m.add_argument("--dpr", type=dpr_type, default=1.0, help="device pixel ratio")
    m.add_argument("--viewport", type=size_type, default=(160, 210), metavar="WxH")
    m.add_argument("--max-steps", type=positive_int, default=10)
    m.add_argument("--workers", type=positive_int, default=1,
                   help="episodes run in parallel (threads, or Ray actors)")  # fmt: skip
    m.add_argument(
        "--shared-browser", action="store_true",
        help="one Chromium process, a context per worker (less memory; a crash hits all)",
    )  # fmt: skip
    m.add_argument("--video", action="store_true", help="an MP4 per episode")
    _common(m, "miniwob")
    m.set_defaults(func=cmd_miniwob)
    g = evals.add_parser("grounding", help="ScreenSpot-style grounding accuracy")
    g.add_argument("data", help="records: .json (a list) or .jsonl")
    g.add_argument("--images", help="folder image paths are relative to (default: the file's)")
    g.add_argument("--bbox-format", choices=["auto", "xyxy", "xywh"], default="auto")
    g.add_argument("--batch-size", type=positive_int, default=8)
    g.add_argument("--workers", type=positive_int, default=1,
                   help="batches asked at once (--executor ray: one Ray actor each)")  # fmt: skip
    g.add_argument("--limit", type=positive_int, help="only the first N records")
    _common(g, "grounding")
    g.set_defaults(func=cmd_grounding)
    b = evals.add_parser("build-grounding-set", help="render a grounding set from real UI")
    b.add_argument("out", help="output folder (grounding.jsonl, images/, pages/)")
    b.add_argument("--govuk", type=Path, help=f"govuk-frontend package (default {GOVUK_CACHE})")
    b.add_argument("--no-govuk", action="store_true", help="MiniWoB pages only")
    b.add_argument("--no-miniwob", action="store_true", help="govuk-frontend pages only")
    b.add_argument("--viewport", type=size_type, action="append", metavar="WxH")
    b.add_argument("--dpr", type=dpr_type, action="append")
    b.add_argument("--component", action="append", help="govuk components (default: all)")
    b.add_argument("--miniwob-task", action="append", help="MiniWoB tasks (default: seven)")
    b.add_argument("--seeds", help="MiniWoB seeds: '1-3' or '1,4' (default: 1)")
    b.add_argument("--limit-per-page", type=positive_int)
    b.set_defaults(func=cmd_build_grounding_set)


def _common(p: argparse.ArgumentParser, name: str) -> None:
    from pixelpilot.agent.commands import server_options
    from pixelpilot.vlm import DIALECTS

    p.add_argument("--backend", choices=BACKENDS, default="transformers",
                   help="oracle: a pipeline check answering from the DOM, not a model")  # fmt: skip
    p.add_argument("--model", help="checkpoint folder or hub id; server model name")
    p.add_argument("--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--dialect", choices=sorted(DIALECTS), help="default: guessed from --model")
    p.add_argument("--min-pixels", type=positive_int, default=None)
    p.add_argument("--max-pixels", type=positive_int, default=None)
    server_options(p)  # --server, --api-key-env, --request-timeout (the openai backend)
    p.add_argument("--out", type=Path, help=f"output folder (default evals/{name}-<time>)")
    p.add_argument("--fail-under", type=float, help="exit 1 when the score is under this (0-1)")
    p.add_argument("--strict", action="store_true", help="exit 1 on any pipeline error")
    p.add_argument("--executor", choices=EXECUTORS, default="thread",
                   help="thread: this process; ray: Ray actors, local or on a cluster")  # fmt: skip
    p.add_argument("--ray-address", metavar="ADDR",
                   help="a Ray cluster (host:port); default: start a local one")  # fmt: skip


def _guarded(command: str, run: Any, args: argparse.Namespace) -> int:
    """Run a subcommand; our errors become one line and their exit code (see above)."""
    try:
        return run(args)
    except FixableError as error:  # the command line or the data it names: the user fixes it
        say(f"eval {command}", error)
        return EXIT["usage"]
    except InfrastructureError as error:  # the backend (3) or the environment (6)
        return fail(f"eval {command}", error)
    except ExecutorMissing as error:  # it says what to install
        say(f"eval {command}", error)
        return EXIT["controller"]
    except ImportError as error:  # an optional package the chosen path needs
        say(f"eval {command}", f"{error} (pip install 'pixelpilot[all]')")
        return EXIT["controller"]


def _as_usage(call: Any, *args: Any, **kwargs: Any) -> Any:
    """`call(...)`, its complaints about what the user asked for (a `ValueError`, a file
    that is missing or in the way) turned into a `UsageError`."""
    try:
        return call(*args, **kwargs)
    except (ValueError, OSError) as error:
        if isinstance(error, InfrastructureError):
            raise
        if isinstance(error, OSError) and error.filename and error.strerror:
            raise UsageError(f"{error.filename}: {error.strerror}") from error
        raise UsageError(str(error)) from error


def seeds(text: str) -> list[int]:
    """'1-5' -> [1..5]; '1,4,9' -> [1, 4, 9]; both mix: '1-3,10'."""
    found: list[int] = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        try:
            lo, hi = int(first), int(last or first)
        except ValueError:
            raise UsageError(f"seeds must look like 1-5 or 1,4,9, not {text!r}") from None
        found.extend(s for s in range(lo, hi + 1) if s not in found)
    if not found:
        raise UsageError(f"no seeds in {text!r}")
    return found


def _out(args: argparse.Namespace, name: str) -> Path:
    return args.out or Path("evals") / f"{name}-{time.strftime('%Y-%m-%dT%H-%M-%S')}"


def _verdict(score: float | None, errors: int, args: argparse.Namespace) -> int:
    if args.fail_under is not None and (score is None or score < args.fail_under):
        return 1
    return 1 if args.strict and errors else 0


# -- miniwob ---------------------------------------------------------------------------
def cmd_miniwob(args: argparse.Namespace) -> int:
    return _guarded("miniwob", _miniwob, args)


def _miniwob(args: argparse.Namespace) -> int:
    from .executor import miniwob_episodes
    from .miniwob import MiniWoBConfig
    from .miniwob_pages import select_tasks
    from .miniwob_report import write_miniwob_report

    check_screenshot_size(args.viewport, args.dpr)
    _check_executor(args)
    config = MiniWoBConfig(
        tasks=_as_usage(select_tasks, args.tasks or ["basic"]), seeds=_episode_seeds(args),
        dialect=args.dialect or guess_dialect(args.model), dpr=args.dpr,
        viewport=args.viewport, max_steps=args.max_steps, workers=args.workers,
        min_pixels=args.min_pixels, max_pixels=args.max_pixels, video=args.video,
        shared_browser=args.shared_browser,
    )  # fmt: skip
    oracle = args.backend == "oracle"
    name = f"{args.backend} {args.model or ''}"
    name = "oracle (DOM solvers; a pipeline check)" if oracle else name
    recipe = BackendRecipe("oracle") if oracle else _recipe(args)
    out = _out(args, "miniwob")
    started = time.monotonic()
    with sweep_progress(_runnable(config, oracle), "MiniWoB episodes") as progress:
        results = miniwob_episodes(
            args.executor, config, recipe, out, ray_address=args.ray_address,
            thread_backends=lambda: _thread_backends(args, config, oracle),
            on_result=lambda result: _episode_done(progress, result),
        )  # fmt: skip
    data = write_miniwob_report(
        out, config, results, backend=name.strip(), oracle=oracle, wall_s=time.monotonic() - started
    )
    overall, tasks = data["overall"], data["tasks"]
    skipped = [t for t, s in tasks.items() if s["skipped"] == s["episodes"]]
    if skipped:
        print(f"skipped, no DOM solver for the oracle: {', '.join(skipped)}")
    scored = sum(s["success_rate"] is not None for s in tasks.values())
    label = "pipeline ceiling (oracle)" if oracle else "success rate"
    print(f"\n{label}: {_pct(overall['task_average_success_rate'])} averaged over "
          f"{scored} tasks; {overall['pipeline_errors']} pipeline errors; "
          f"{data['episodes_per_minute'] or 0:.1f} episodes/min "
          f"({args.executor} executor)")  # fmt: skip
    print(f"report: {out / 'report.html'}  (also report.md, results.json)")
    if overall["scored"] == 0 and overall["pipeline_errors"]:  # nothing measured: not a pass
        errors, episodes = overall["pipeline_errors"], overall["episodes"]
        say("eval miniwob", f"no episode could be scored: {errors} of {episodes} ended in a "
            "pipeline error")  # fmt: skip
        return 1
    return _verdict(overall["task_average_success_rate"], overall["pipeline_errors"], args)


def _check_executor(args: argparse.Namespace) -> None:
    if args.ray_address and args.executor != "ray":
        raise UsageError("--ray-address needs --executor ray")


def _recipe(args: argparse.Namespace) -> BackendRecipe:
    """The model's backend as a recipe the Ray workers build from (checked here, so a
    bad option is a usage error before any worker starts)."""
    from pixelpilot.agent.commands import openai_options

    if args.backend == "openai":
        return BackendRecipe("openai", openai_options(args))
    if not args.model:
        raise UsageError("--model is needed (a checkpoint folder or a hub id)")
    options = {"model": args.model, "min_pixels": args.min_pixels, "max_pixels": args.max_pixels}
    return BackendRecipe("transformers", options)


def _thread_backends(args: argparse.Namespace, config: Any, oracle: bool) -> Any:
    """The thread executor's backend factory: the model is loaded here, in this process."""
    from pixelpilot.vlm.batching import BatchingBackend

    from .miniwob import oracle_backends

    if oracle:
        return oracle_backends(config)
    model = _backend(args)
    # in-process models batch on the GPU; a server batches concurrent requests itself
    batched = config.workers > 1 and args.backend == "transformers"
    shared = BatchingBackend(model, max_batch=config.workers) if batched else model
    return lambda env, episode: shared


def _runnable(config: Any, oracle: bool) -> int:
    """Episodes that will run: the oracle skips tasks it has no solver for."""
    from .miniwob_solvers import SOLVERS

    tasks = [t for t in config.tasks if not oracle or t in SOLVERS]
    return len(tasks) * len(config.seeds)


def _episode_seeds(args: argparse.Namespace) -> list[int]:
    chosen = seeds(args.seeds)
    if args.episodes is None:
        return chosen
    return list(range(chosen[0], chosen[0] + args.episodes))


def _episode_done(progress: SweepProgress, result: Any) -> None:
    reward = "-" if result.raw_reward is None else f"{result.raw_reward:+.2f}"
    detail = f"  {result.error}" if result.error else ""
    line = (f"{result.task} #{result.seed}: {result.outcome} reward {reward} "
            f"in {result.steps} steps{detail}")  # fmt: skip
    error = result.outcome == "pipeline_error"
    progress.advance(line, None if error else result.success, error=error)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


# -- grounding -------------------------------------------------------------------------
def cmd_grounding(args: argparse.Namespace) -> int:
    return _guarded("grounding", _grounding, args)


def _grounding(args: argparse.Namespace) -> int:
    from pixelpilot.vlm import get_dialect

    from .executor import grounding_predictions
    from .grounding import GroundingOracle, load_records
    from .grounding_report import PredictionLog, write_grounding_report

    _check_executor(args)
    if args.workers > 1 and args.executor != "ray":
        raise UsageError("--workers needs --executor ray (the thread executor asks in batches)")
    records = _as_usage(load_records, args.data, images=args.images, bbox_format=args.bbox_format)
    records = records[: args.limit] if args.limit else records
    missing = [str(r.image) for r in records if not r.image.is_file()]
    if missing:
        raise UsageError(f"{len(missing)} images are missing, e.g. {missing[0]} (see --images)")
    dialect = get_dialect(args.dialect or guess_dialect(args.model))
    oracle = args.backend == "oracle"
    if oracle:
        recipe = BackendRecipe("grounding_oracle", {"dialect": dialect.name,
                                                    "max_pixels": args.max_pixels})  # fmt: skip
    else:
        recipe = _recipe(args)
    local = (lambda: recipe.build()) if oracle else (lambda: _backend(args))
    out, started, predictions = _out(args, "grounding"), time.monotonic(), []
    log = PredictionLog(out)
    try:
        with sweep_progress(len(records), "grounding records") as progress:
            for prediction in grounding_predictions(
                args.executor, records, recipe, dialect.name, batch_size=args.batch_size,
                workers=args.workers, max_pixels=args.max_pixels, thread_backend=local,
                ray_address=args.ray_address,
            ):  # fmt: skip
                log.write(prediction)
                predictions.append(prediction)
                _record_done(progress, prediction, oracle)
    finally:
        log.close()
    name = GroundingOracle.model if oracle else f"{args.backend} {args.model or ''}".strip()
    data = write_grounding_report(
        out, predictions, dataset=str(args.data), dialect=dialect.name, backend=name,
        oracle=oracle, wall_s=time.monotonic() - started,
    )  # fmt: skip
    label = "pipeline ceiling (oracle)" if oracle else "accuracy"
    print(f"{label}: {_pct(data['accuracy'])} of {len(predictions)} records "
          f"({len(data['misses'])} misses)")  # fmt: skip
    print(f"report: {out / 'report.html'}  (also report.md, results.json, predictions.jsonl)")
    unreadable = sum(p.error is not None for p in predictions)
    return _verdict(data["accuracy"], unreadable if oracle else 0, args)


def _record_done(progress: SweepProgress, prediction: Any, oracle: bool) -> None:
    why = f" ({prediction.error})" if prediction.error else ""
    line = f"{prediction.record.id}: {'hit' if prediction.hit else 'miss'}{why}"
    progress.advance(line, prediction.hit, error=oracle and prediction.error is not None)


# -- build-grounding-set ---------------------------------------------------------------
def cmd_build_grounding_set(args: argparse.Namespace) -> int:
    return _guarded("build-grounding-set", _build, args)


def _build(args: argparse.Namespace) -> int:
    from .grounding_set import GovukMissing, build_grounding_set

    govuk = None
    if not args.no_govuk:
        govuk = args.govuk or GOVUK_CACHE
    options: dict[str, Any] = {"govuk": govuk, "miniwob": not args.no_miniwob}
    if args.viewport:
        options["viewports"] = args.viewport
    if args.dpr:
        options["dprs"] = args.dpr
    if args.component:
        options["components"] = args.component
    if args.miniwob_task:
        options["miniwob_tasks"] = args.miniwob_task
    if args.seeds:
        options["seeds"] = seeds(args.seeds)
    if args.limit_per_page:
        options["limit_per_page"] = args.limit_per_page
    try:
        summary = _as_usage(build_grounding_set, Path(args.out), **options)
    except GovukMissing as error:  # where --govuk (or the default cache) points: fetch it
        raise UsageError(str(error)) from error
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(summary.by_data_type.items()))
    print(
        f"{summary.records} records ({kinds}) on {summary.images} screenshots from "
        f"{len(summary.by_source)} pages in {summary.seconds:.0f} s (Chromium {summary.browser})"
    )
    dropped = ", ".join(f"{reason} {n}" for reason, n in sorted(summary.dropped.items()))
    print(f"left out: {dropped}")
    if summary.empty:
        print(f"pages without a usable element: {', '.join(summary.empty)}")
    print(f"records: {Path(args.out) / 'grounding.jsonl'}  (manifest.json says how they were made)")
    return 0
