"""smart_resize and the video rules against both references, bit for bit."""

from __future__ import annotations

import random

import pytest

from pixelpilot.vlm import resize
from pixelpilot.vlm.resize import (
    model_image_size,
    smart_resize,
    video_frame_count,
    video_frame_indices,
    video_frame_size,
    visual_tokens,
)

transformers_ref = pytest.importorskip("transformers.models.qwen2_vl.image_processing_qwen2_vl")
qwen_vl_utils = pytest.importorskip("qwen_vl_utils.vision_process")


def _outcome(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (ValueError, AssertionError) as error:
        return type(error).__name__ if isinstance(error, AssertionError) else "ValueError"


def _random_case(rng: random.Random) -> tuple[int, int, int, int]:
    kind = rng.random()
    if kind < 0.2:  # tiny images, including sides under half a patch
        h, w = rng.randint(1, 60), rng.randint(1, 60)
    elif kind < 0.35:  # extreme aspect ratios around the 200 limit
        short = rng.randint(1, 40)
        h, w = short, short * rng.randint(150, 260) + rng.randint(0, 50)
        if rng.random() < 0.5:
            h, w = w, h
    else:
        h, w = rng.randint(28, 8000), rng.randint(28, 8000)
    lo = rng.choice([56 * 56, 4 * 28 * 28, 100 * 28 * 28, 256 * 28 * 28, rng.randint(1, 10**6)])
    hi = rng.choice([1280 * 28 * 28, 16384 * 28 * 28, 1344 * 28 * 28, rng.randint(lo, 2 * 10**7)])
    return h, w, lo, hi


def test_equals_transformers_on_random_sizes() -> None:
    rng = random.Random(1234)
    for _ in range(5000):
        h, w, lo, hi = _random_case(rng)
        ours = _outcome(smart_resize, h, w, min_pixels=lo, max_pixels=hi)
        ref = _outcome(transformers_ref.smart_resize, h, w, factor=28, min_pixels=lo, max_pixels=hi)
        assert ours == ref, (h, w, lo, hi)


def test_equals_qwen_vl_utils_on_random_sizes() -> None:
    rng = random.Random(4321)
    for _ in range(5000):
        h, w, lo, hi = _random_case(rng)
        if rng.random() < 0.05:
            lo, hi = hi + 1, lo  # the reference asserts max >= min
        ours = _outcome(smart_resize, h, w, min_pixels=lo, max_pixels=hi, flavor="qwen_vl_utils")
        ref = _outcome(qwen_vl_utils.smart_resize, h, w, 28, min_pixels=lo, max_pixels=hi)
        if ref == "AssertionError":
            ref = "ValueError"
        assert ours == ref, (h, w, lo, hi)


@pytest.mark.parametrize(
    ("h", "w"),
    [
        (1, 1),
        (10, 1000),
        (13, 13),
        (14, 14),
        (1, 200),
        (1, 201),
        (5, 1000),
        (20000, 100),
        (28, 5600),
    ],
)
def test_edge_cases_match_each_reference(h: int, w: int) -> None:
    assert _outcome(smart_resize, h, w) == _outcome(transformers_ref.smart_resize, h, w)
    assert _outcome(smart_resize, h, w, flavor="qwen_vl_utils") == _outcome(
        qwen_vl_utils.smart_resize, h, w, 28
    )


def test_references_disagree_where_documented() -> None:
    """A 10x1000 strip: transformers rounds the height to 0 and grows the image to
    min_pixels; qwen-vl-utils clamps the height to one factor first."""
    assert smart_resize(10, 1000) == (28, 560)
    assert smart_resize(10, 1000, flavor="qwen_vl_utils") == (28, 1008)


def test_figures_from_the_design() -> None:
    assert visual_tokens(1920, 1080, max_pixels=1_003_520) == 1222
    assert visual_tokens(1920, 1080, max_pixels=12_845_056) == 2691
    assert visual_tokens(1280, 720, max_pixels=1_003_520) == 1196
    assert model_image_size(1920, 1080, max_pixels=12_845_056) == (1932, 1092)
    assert resize.DEFAULT_MIN_PIXELS == 3136 and resize.DEFAULT_MAX_PIXELS == 1_003_520


@pytest.mark.parametrize(
    "size", [(1920, 1080), (1366, 768), (400, 300), (3440, 1440), (1080, 2400)]
)
def test_tokens_equal_the_image_processor(size: tuple[int, int]) -> None:
    """The processor the model servers run gives the same grid, so the same token count."""
    from PIL import Image
    from transformers import Qwen2VLImageProcessor

    processor = Qwen2VLImageProcessor(min_pixels=3136, max_pixels=12_845_056)
    out = processor(images=Image.new("RGB", size, "white"), return_tensors="pt")
    t, gh, gw = (int(v) for v in out["image_grid_thw"][0])
    assert (gw * 14, gh * 14) == model_image_size(*size, max_pixels=12_845_056)
    assert t * gh * gw // 4 == visual_tokens(*size, max_pixels=12_845_056)


def test_video_frame_count_equals_reference() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        total = rng.randint(1, 5000)
        video_fps = rng.choice([1, 10, 24, 25, 29.97, 30, 60, rng.uniform(0.5, 120)])
        options: dict = {}
        if rng.random() < 0.3:
            options["fps"] = rng.choice([0.5, 1.0, 2.0, 4.0])
        if rng.random() < 0.2:
            options["max_frames"] = rng.randint(2, 800)
        if rng.random() < 0.2:
            options["min_frames"] = rng.randint(1, 16)
        if rng.random() < 0.1:
            options = {"nframes": rng.randint(1, 100)}
        ours = _outcome(video_frame_count, total, video_fps, **options)
        ref = _outcome(qwen_vl_utils.smart_nframes, dict(options), total, video_fps)
        assert ours == ref, (total, video_fps, options)


def test_video_frame_indices_equal_torch_linspace() -> None:
    torch = pytest.importorskip("torch")
    rng = random.Random(11)
    for _ in range(2000):
        total = rng.randint(2, 4000)
        n = rng.randint(1, min(total, 768) // 2) * 2
        expected = torch.linspace(0, total - 1, n).round().long().tolist()
        assert video_frame_indices(total, n) == expected


@pytest.mark.parametrize(
    ("size", "nframes", "options"),
    [
        ((560, 336), 4, {}),
        ((1288, 728), 2, {}),
        ((1288, 728), 40, {"total_pixels": 20 * 1288 * 728}),
        ((672, 392), 6, {"max_pixels": 200_000}),
        ((1904, 1120), 8, {"min_pixels": 200_000}),
    ],
)
def test_video_frame_size_equals_reference(size, nframes, options) -> None:
    """qwen-vl-utils' fetch_video on real frames gives the same per-frame size.

    Given a list of frames, the reference first resizes each one like an image with a
    factor of 56 (it passes 28 as the patch size); sizes here are multiples of 56 so that
    step changes nothing and the video rules alone decide, as for a video file."""
    from PIL import Image

    frames = [Image.new("RGB", size, (i * 20 % 255, 0, 0)) for i in range(nframes)]
    video = qwen_vl_utils.fetch_video({"video": frames, **options})
    _, _, ref_h, ref_w = video.shape
    assert video_frame_size(*size, nframes, **options) == (ref_w, ref_h)
