"""bench/gpu_step.py: its CPU smoke run end to end, and the figures its GPU table rests on
(the published model sizes, the dialect's visual tokens), checked against numbers that do
not come from the bench: the model cards' parameter counts and hand-worked smart_resize."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "gpu_step.py"


def _bench():
    spec = importlib.util.spec_from_file_location("gpu_step", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gpu_step", module)  # dataclasses look their module up there
    spec.loader.exec_module(sys.modules["gpu_step"])
    return sys.modules["gpu_step"]


def test_the_smoke_run_prints_a_row_per_batch_with_the_dialects_tokens() -> None:
    done = subprocess.run([sys.executable, str(BENCH), "--smoke"], capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "640x360 -> 644x364: 299 visual tokens" in done.stdout  # 23 x 13 tokens of 28 px
    assert "tiny (smoke): 9,861,376 parameters (random weights)" in done.stdout
    lines = done.stdout.splitlines()
    rows = [line.split() for line in lines if line.lstrip().startswith("tiny (smoke) ")]
    # "tiny (smoke)", attn, screen, model image, visual tok, prompt tok, batch, prefill, decode
    assert [r[2:6] + r[7:8] for r in rows] == [
        ["sdpa", "640x360", "644x364", "299", "1"],
        ["sdpa", "640x360", "644x364", "299", "2"],
    ]
    prompts = {int(r[6]) for r in rows}
    assert len(prompts) == 1 and prompts.pop() > 299 + 100  # the screen plus the real prompt
    for r in rows:
        prefill, decode = float(r[8]), float(r[9])
        assert prefill > 0 and decode >= 0


@pytest.mark.parametrize(
    ("key", "published"),
    [("2b", 2_208_985_600), ("7b", 8_291_375_616)],  # Qwen2-VL-{2B,7B}-Instruct model cards
)
def test_the_architectures_have_the_published_sizes(key: str, published: int) -> None:
    bench = _bench()
    assert bench.parameters(bench.ARCHITECTURES[key]) == published


def test_visual_tokens_follow_the_dialects_pixel_limits() -> None:
    bench = _bench()
    plan = bench.screen_plan("qwen2vl", bench.SCREENS)  # checkpoint max 12,845,056 pixels
    # round(w/28) x round(h/28): 46x26, 69x39, 137x77 (all under the pixel cap)
    assert [(p["model_size"], p["visual_tokens"]) for p in plan] == [
        ((1288, 728), 1196),
        ((1932, 1092), 2691),
        ((3836, 2156), 10549),
    ]
    showui = bench.screen_plan("showui", bench.SCREENS)  # max 1344 tokens: 48x27 fits
    assert [p["visual_tokens"] for p in showui] == [1196, 1296, 1296]


def test_flash_attention_is_skipped_with_a_reason_off_cuda() -> None:
    usable, skipped = _bench().attention_choices(["sdpa", "flash_attention_2"], "cpu")
    assert usable == ["sdpa"] and skipped == ["flash_attention_2: needs CUDA"]


def test_bad_options_are_refused() -> None:
    done = subprocess.run([sys.executable, str(BENCH), "--models", "13b"], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 2 and re.search(r"unknown models \['13b'\]", done.stderr)
