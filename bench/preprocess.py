"""Screenshot to model-ready tensors: pixelpilot's transformers backend against the
processor alone and against the reference pipeline (qwen-vl-utils + processor), side by
side in one process, plus visual-token counts. Prints; asserts nothing.

    .venv/bin/python bench/preprocess.py [--repeat N]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from PIL import Image

from pixelpilot.vlm import load_backend, visual_tokens
from pixelpilot.vlm.resize import CHECKPOINT_MAX_PIXELS, DEFAULT_MAX_PIXELS
from tests.fixtures.tiny_qwen import cached_tiny_model

SIZES = [(1280, 720), (1920, 1080), (2560, 1440), (3840, 2160)]


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up: first calls pay for lazy imports and allocator growth
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    start = time.perf_counter()
    folder = cached_tiny_model("qwen2vl", root=Path("/tmp/pixelpilot-bench-fixtures"))
    print(f"tiny Qwen2-VL fixture ready in {time.perf_counter() - start:.1f} s ({folder})")
    backend = load_backend("transformers", model=folder, device="cpu")
    fast = load_backend("transformers", model=folder, device="cpu", preprocess="processor")
    processor = backend.processor
    from qwen_vl_utils import process_vision_info

    print("Two references, each against our backend in the mode that must equal it:")
    print("  qwen-vl-utils mode vs process_vision_info + processor (the Qwen team's pipeline)")
    print("  processor mode     vs the processor alone (what a vLLM server does)")
    header = (
        "screenshot  | q-v-u ours   ref  ours/ref | proc ours  alone overhead | tokens @1.0M @12.8M"
    )
    print(header)
    for width, height in SIZES:
        rng = np.random.default_rng(0)
        image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        part = {"type": "image", "image": image}
        conversation = [{"role": "user", "content": [part, {"type": "text", "text": "Where?"}]}]
        text = processor.apply_chat_template(
            conversation, tokenize=False, add_generation_prompt=True
        )

        def reference(conversation=conversation, text=text) -> object:
            images, _ = process_vision_info(conversation)
            return processor(text=[text], images=images, padding=True, return_tensors="pt")

        def processor_alone(text=text, image=image) -> object:
            return processor(text=[text], images=[image], padding=True, return_tensors="pt")

        ours = best_ms(lambda c=conversation: backend.prepare_inputs([c]), args.repeat)
        ref = best_ms(reference, args.repeat)
        ours_fast = best_ms(lambda c=conversation: fast.prepare_inputs([c]), args.repeat)
        alone = best_ms(processor_alone, args.repeat)
        low = visual_tokens(width, height, max_pixels=DEFAULT_MAX_PIXELS)
        high = visual_tokens(width, height, max_pixels=CHECKPOINT_MAX_PIXELS)
        print(
            f"{width:>5}x{height:<5} | {ours:9.1f} {ref:6.1f} {ours / ref:8.2f} | "
            f"{ours_fast:9.1f} {alone:6.1f} {ours_fast / alone - 1:+8.1%} | {low:>11} {high:>6}"
        )


if __name__ == "__main__":
    main()
