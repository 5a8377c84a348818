"""Preprocessing parity: what reaches the model equals the Qwen team's reference pipeline
(qwen-vl-utils' process_vision_info + the checkpoint's processor), bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

qwen_vl_utils = pytest.importorskip("qwen_vl_utils")

SIZES = [
    (1280, 720), (1920, 1080), (3840, 2160), (1366, 768), (3440, 1440), (2560, 1600),
    (1001, 667), (333, 777), (800, 1280), (1080, 2400), (640, 480), (57, 43), (4000, 60),
]  # fmt: skip


def noise(size: tuple[int, int], seed: int, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    channels = 4 if mode == "RGBA" else 3
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8), mode)


def reference_inputs(processor, conversation: list[dict]):
    text = processor.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    images, videos = qwen_vl_utils.process_vision_info(conversation)
    return processor(text=[text], images=images, videos=videos, padding=True, return_tensors="pt")


def assert_same(ours, ref) -> None:
    assert torch.equal(ours["input_ids"], ref["input_ids"])
    assert torch.equal(ours["image_grid_thw"], ref["image_grid_thw"])
    assert ours["pixel_values"].dtype == ref["pixel_values"].dtype
    assert torch.equal(ours["pixel_values"], ref["pixel_values"])


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_single_screenshot_bit_for_bit(qwen2vl_backend, size) -> None:
    conversation = [{"role": "user", "content": [
        {"type": "image", "image": noise(size, seed=size[0])},
        {"type": "text", "text": "Click the search box."},
    ]}]  # fmt: skip
    assert_same(
        qwen2vl_backend.prepare_inputs([conversation]),
        reference_inputs(qwen2vl_backend.processor, conversation),
    )


def test_several_images_paths_rgba_and_per_image_limits(qwen2vl_backend, tmp_path) -> None:
    path = tmp_path / "shot.png"
    noise((1440, 900), seed=3).save(path)
    conversation = [
        {"role": "system", "content": [{"type": "text", "text": "You are a GUI agent."}]},
        {"role": "user", "content": [
            {"type": "text", "text": "Earlier screen:"},
            {"type": "image", "image": str(path), "max_pixels": 200_704},
            {"type": "text", "text": "Now:"},
            {"type": "image", "image": noise((1024, 768), seed=4, mode="RGBA")},
            {"type": "image", "image": f"file://{path}", "min_pixels": 3136, "max_pixels": 1_003_520},
        ]},
        {"role": "assistant", "content": [{"type": "text", "text": "Action: click(start_box='(1,2)')"}]},
        {"role": "user", "content": [{"type": "image", "image": noise((1920, 1080), seed=5)}]},
    ]  # fmt: skip
    assert_same(
        qwen2vl_backend.prepare_inputs([conversation]),
        reference_inputs(qwen2vl_backend.processor, conversation),
    )


@pytest.fixture(scope="module")
def processor_mode_backend(tiny_qwen2vl):
    from pixelpilot.vlm import load_backend

    return load_backend("transformers", model=tiny_qwen2vl, device="cpu", preprocess="processor")


@pytest.mark.parametrize("size", SIZES[:8], ids=[f"{w}x{h}" for w, h in SIZES[:8]])
def test_processor_mode_equals_the_processor_alone(processor_mode_backend, size) -> None:
    """What a vLLM server computes from the raw screenshot it receives."""
    image = noise(size, seed=size[1])
    conversation = [
        {
            "role": "user",
            "content": [{"type": "image", "image": image}, {"type": "text", "text": "Where?"}],
        }
    ]
    processor = processor_mode_backend.processor
    text = processor.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    assert_same(
        processor_mode_backend.prepare_inputs([conversation]),
        processor(text=[text], images=[image], padding=True, return_tensors="pt"),
    )


def test_a_padded_batch_equals_the_reference_batch(qwen2vl_backend) -> None:
    batch = [
        [{"role": "user", "content": [{"type": "image", "image": noise((1280, 720), 8)}, {"type": "text", "text": "Hi"}]}],
        [{"role": "user", "content": [{"type": "text", "text": "A longer question first, then two images:"},
                                      {"type": "image", "image": noise((800, 600), 9)},
                                      {"type": "image", "image": noise((1920, 1080), 10)}]}],
    ]  # fmt: skip
    processor = qwen2vl_backend.processor
    texts = [
        processor.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in batch
    ]
    images, _ = qwen_vl_utils.process_vision_info(batch)
    ref = processor(text=texts, images=images, padding=True, return_tensors="pt")
    ours = qwen2vl_backend.prepare_inputs(batch)
    assert_same(ours, ref)
    assert torch.equal(ours["attention_mask"], ref["attention_mask"])
    assert int(ours["attention_mask"][0, 0]) == 0  # padded on the left


def test_a_checkpoint_with_smaller_limits_resizes_twice_like_the_reference(
    tmp_path, qwen_tokenizer
) -> None:
    """qwen-vl-utils resizes with its own defaults, then the processor shrinks again to
    the checkpoint's max_pixels: the backend must do exactly that, not skip a step."""
    from pixelpilot.vlm import load_backend
    from tests.fixtures.tiny_qwen import build_tiny_model

    folder = build_tiny_model(tmp_path / "small", tokenizer=qwen_tokenizer, max_pixels=1_003_520)
    backend = load_backend("transformers", model=folder, device="cpu")
    conversation = [
        {"role": "user", "content": [{"type": "image", "image": noise((1920, 1080), 11)}]}
    ]
    ours = backend.prepare_inputs([conversation])
    assert_same(ours, reference_inputs(backend.processor, conversation))
    assert ours["image_grid_thw"].tolist() == [[1, 52, 94]]
