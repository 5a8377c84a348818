"""The model-facing subcommands: `parse`, `resize`, `prompt`, `ask`, `schema`, `dialects`.

Each is a small function that reads its arguments and prints JSON or text, so scripts
can rely on the output. `pixelpilot.cli` assembles these with the other layers' commands.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pixelpilot.tools import ActionListAdapter, ActionParseError, action_json_schema
from pixelpilot.vlm import DIALECTS, get_dialect, parse_actions
from pixelpilot.vlm.resize import visual_tokens


def size_type(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT, e.g. 1920x1080, got {text!r}"
        ) from None
    if width <= 0 or height <= 0:
        raise argparse.ArgumentTypeError("width and height must be positive")
    return width, height


def _add_pixels(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--min-pixels",
        type=int,
        default=None,
        help="min_pixels of the model's processor (default: the dialect's)",
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        help="max_pixels of the model's processor (default: the dialect's)",
    )


def _cmd_parse(args: argparse.Namespace) -> int:
    text = sys.stdin.read()
    try:
        actions = parse_actions(
            text, args.dialect, screenshot_size=args.screenshot_size,
            min_pixels=args.min_pixels, max_pixels=args.max_pixels,
        )  # fmt: skip
    except ActionParseError as error:
        print(f"pixelpilot parse: {error}", file=sys.stderr)
        return 2
    print(ActionListAdapter.dump_json(actions, indent=2).decode())
    return 0


def _cmd_resize(args: argparse.Namespace) -> int:
    dialect = get_dialect(args.dialect)
    kwargs = {"min_pixels": args.min_pixels, "max_pixels": args.max_pixels}
    width, height = dialect.model_size(args.size, **kwargs)
    limits = {
        "min_pixels": args.min_pixels if args.min_pixels is not None else dialect.min_pixels,
        "max_pixels": args.max_pixels if args.max_pixels is not None else dialect.max_pixels,
    }
    print(json.dumps({
        "screenshot": list(args.size), "model_image": [width, height],
        "visual_tokens": visual_tokens(*args.size, **limits), **limits,
    }))  # fmt: skip
    return 0


def _cmd_prompt(args: argparse.Namespace) -> int:
    dialect = get_dialect(args.dialect)
    size = dialect.model_size(args.screenshot_size) if args.screenshot_size else None
    if args.grounding:
        print(dialect.grounding_prompt(args.task))
    else:
        print(dialect.system_prompt(args.task, args.mode, model_size=size))
    return 0


def _cmd_ask(args: argparse.Namespace) -> int:
    from pixelpilot.agent.commands import EXIT, UsageError, openai_options
    from pixelpilot.vlm import BackendError, GenerationParams, load_backend

    options: dict = {"min_pixels": args.min_pixels, "max_pixels": args.max_pixels}
    if args.backend == "openai":
        try:
            options = openai_options(args)
        except UsageError as error:
            print(f"pixelpilot ask: {error}", file=sys.stderr)
            return EXIT["usage"]
    else:
        options.update(model=args.model)
    if (unreadable := _unreadable_image(args.image)) is not None:  # before a model loads
        print(f"pixelpilot ask: {unreadable}", file=sys.stderr)
        return EXIT["usage"]
    content: list[dict] = [{"type": "image", "image": path} for path in args.image]
    content += [{"type": "video", "video": path} for path in args.video]
    content.append({"type": "text", "text": args.question})
    try:
        backend = load_backend(args.backend, **options)
        (completion,) = backend.generate(
            [[{"role": "user", "content": content}]],
            GenerationParams(max_new_tokens=args.max_new_tokens),
        )
    except BackendError as error:  # cannot be loaded, server down or refusing: 3, as for run
        print(f"pixelpilot ask: {error}", file=sys.stderr)
        return EXIT["backend"]
    except (ValueError, OSError) as error:  # what was given: an unreadable image, a bad option
        print(f"pixelpilot ask: {error}", file=sys.stderr)
        return EXIT["usage"]
    print(completion.model_dump_json(indent=2) if args.json else completion.text)
    return 0


def _unreadable_image(paths: list[str]) -> str | None:
    """What is wrong with the first `--image` that is not a readable image, if any."""
    from PIL import Image

    for path in paths:
        if path.startswith(("http://", "https://", "data:")):  # the server reads those
            continue
        try:
            with Image.open(path) as image:
                image.verify()
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            return f"--image {path}: not a readable image ({error})"
    return None


def _cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(action_json_schema(), indent=2))
    return 0


def _cmd_dialects(args: argparse.Namespace) -> int:
    for name, cls in sorted(DIALECTS.items()):
        print(f"{name:10s} {cls.space.value:12s} {(cls.__doc__ or '').strip().splitlines()[0]}")
    return 0


def add_model_commands(sub: Any) -> None:
    """parse, resize, prompt, ask, schema, dialects: the model-facing subcommands."""
    dialects = sorted(DIALECTS)

    p = sub.add_parser("parse", help="parse a model reply (stdin) into actions (JSON)")
    p.add_argument("--dialect", required=True, choices=dialects)
    p.add_argument("--screenshot-size", required=True, type=size_type, metavar="WxH")
    _add_pixels(p)
    p.set_defaults(func=_cmd_parse)

    p = sub.add_parser("resize", help="the image size and visual tokens the model sees")
    p.add_argument("size", type=size_type, metavar="WxH")
    p.add_argument("--dialect", default="qwen25vl", choices=dialects)
    _add_pixels(p)
    p.set_defaults(func=_cmd_resize)

    p = sub.add_parser("prompt", help="print a dialect's prompt for a task")
    p.add_argument("--dialect", required=True, choices=dialects)
    p.add_argument("--task", required=True)
    p.add_argument("--mode", default="computer", choices=["computer", "mobile"])
    p.add_argument("--grounding", action="store_true", help="the grounding prompt instead")
    p.add_argument("--screenshot-size", type=size_type, metavar="WxH", default=None)
    p.set_defaults(func=_cmd_prompt)

    p = sub.add_parser("ask", help="ask a model about screenshots or a screen recording")
    p.add_argument("question")
    p.add_argument("--backend", default="transformers", choices=["transformers", "openai"])
    p.add_argument(
        "--model", help="checkpoint folder or hub id (transformers), model name (openai)"
    )
    p.add_argument("--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--image", action="append", default=[], metavar="PATH")
    p.add_argument("--video", action="append", default=[], metavar="PATH")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--json", action="store_true", help="print the whole completion as JSON")
    _add_pixels(p)
    from pixelpilot.agent.commands import server_options

    server_options(p)  # --server, --api-key-env, --request-timeout (openai backend)
    p.set_defaults(func=_cmd_ask)

    p = sub.add_parser("schema", help="JSON schema of the action space")
    p.set_defaults(func=_cmd_schema)

    p = sub.add_parser("dialects", help="list the model dialects")
    p.set_defaults(func=_cmd_dialects)
