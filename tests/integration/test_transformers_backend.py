"""The transformers backend on a tiny random-weight checkpoint loaded from a folder."""

from __future__ import annotations

import time

import pytest
from PIL import Image

from pixelpilot.vlm import GenerationParams, ModelNotFoundError, load_backend, visual_tokens
from pixelpilot.vlm.resize import model_image_size, video_frame_size

IMAGE_PAD = 151655
VIDEO_PAD = 151656


def screenshot(size: tuple[int, int], seed: int = 0) -> Image.Image:
    import numpy as np

    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def ask(image, text: str = "Where is the search box?") -> list[dict]:
    return [
        {
            "role": "user",
            "content": [{"type": "image", "image": image}, {"type": "text", "text": text}],
        }
    ]


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
def test_generates_with_the_reference_number_of_visual_tokens(qwen2vl_backend, size) -> None:
    conversation = ask(screenshot(size))
    inputs = qwen2vl_backend.prepare_inputs([conversation])
    from transformers import Qwen2VLImageProcessor

    reference = Qwen2VLImageProcessor(min_pixels=3136, max_pixels=12_845_056)(
        images=screenshot(size), return_tensors="pt"
    )
    expected_tokens = int(reference["image_grid_thw"].prod()) // 4
    assert int((inputs["input_ids"] == IMAGE_PAD).sum()) == expected_tokens
    assert expected_tokens == visual_tokens(*size, max_pixels=12_845_056)

    (completion,) = qwen2vl_backend.generate(conversation, GenerationParams(max_new_tokens=8))
    assert isinstance(completion.text, str)
    assert completion.image_sizes == (model_image_size(*size, max_pixels=12_845_056),)
    assert completion.usage.visual_tokens == expected_tokens
    assert completion.usage.prompt_tokens == inputs["input_ids"].shape[1]
    if completion.finish_reason == "length":
        assert completion.usage.completion_tokens == 8
    else:
        assert completion.finish_reason == "stop" and completion.usage.completion_tokens < 8
    assert completion.timings.total_s >= completion.timings.model_s > 0


def test_batch_with_left_padding_equals_single_runs(qwen2vl_backend) -> None:
    short = ask(screenshot((640, 480), 1), "Hi")
    long = ask(screenshot((1280, 720), 2), "Describe every element on this page in detail.")
    params = GenerationParams(max_new_tokens=6)
    batched = qwen2vl_backend.generate([short, long], params)
    singles = [qwen2vl_backend.generate(c, params)[0] for c in (short, long)]
    assert [c.text for c in batched] == [c.text for c in singles]
    assert [c.image_sizes for c in batched] == [((644, 476),), ((1288, 728),)]
    assert qwen2vl_backend.processor.tokenizer.padding_side == "left"


def test_greedy_is_deterministic_and_sampling_follows_the_seed(qwen2vl_backend) -> None:
    conversation = ask(screenshot((320, 240)))
    greedy = GenerationParams(max_new_tokens=6)
    assert (
        qwen2vl_backend.generate(conversation, greedy)[0].text
        == qwen2vl_backend.generate(conversation, greedy)[0].text
    )
    sampled = [GenerationParams(max_new_tokens=12, temperature=1.0, seed=s) for s in (7, 7, 8)]
    first, again, other = (qwen2vl_backend.generate(conversation, p)[0].text for p in sampled)
    assert first == again  # the same seed samples the same reply
    assert first != other  # sampling really samples: 12 tokens from 151k


def test_stop_strings_end_the_reply_like_a_server(qwen2vl_backend) -> None:
    conversation = ask(screenshot((320, 240)))
    (free,) = qwen2vl_backend.generate(conversation, GenerationParams(max_new_tokens=12))
    stop = free.text[3:5]  # a string the model is known to write, greedy being deterministic
    (cut,) = qwen2vl_backend.generate(
        conversation, GenerationParams(max_new_tokens=12, stop=(stop,))
    )
    assert cut.text == free.text[: free.text.find(stop)]
    assert cut.finish_reason == "stop"


def test_per_request_pixel_limits(tiny_qwen2vl) -> None:
    backend = load_backend("transformers", model=tiny_qwen2vl, device="cpu", max_pixels=1_003_520)
    (completion,) = backend.generate(
        ask(screenshot((1920, 1080))), GenerationParams(max_new_tokens=2)
    )
    assert completion.image_sizes == ((1316, 728),)
    assert completion.usage.visual_tokens == 1222
    part_limit = [{"role": "user", "content": [
        {"type": "image", "image": screenshot((1920, 1080)), "max_pixels": 200_704}, {"type": "text", "text": "x"}]}]  # fmt: skip
    (small,) = backend.generate(part_limit, GenerationParams(max_new_tokens=2))
    assert small.image_sizes == (model_image_size(1920, 1080, max_pixels=200_704),)


def test_qwen25vl_checkpoint(tiny_qwen25vl) -> None:
    backend = load_backend("transformers", model=tiny_qwen25vl, device="cpu")
    (completion,) = backend.generate(
        ask(screenshot((1366, 768))), GenerationParams(max_new_tokens=4)
    )
    assert completion.image_sizes == (model_image_size(1366, 768, max_pixels=12_845_056),)
    assert type(backend.model).__name__ == "Qwen2_5_VLForConditionalGeneration"


def test_video_from_a_screen_recording(qwen2vl_backend, tmp_path) -> None:
    from tests.fixtures.media import write_video

    path = write_video(tmp_path / "rec.mp4", seconds=3, fps=10, size=(320, 240))
    conversation = [{"role": "user", "content": [
        {"type": "video", "video": str(path)}, {"type": "text", "text": "What happened in this screen recording?"}]}]  # fmt: skip
    inputs = qwen2vl_backend.prepare_inputs([conversation])
    t, h, w = (int(v) for v in inputs["video_grid_thw"][0])
    # 6 frames at 2 fps, two per temporal patch; 320x240 grows to the video minimum
    # of 128 tokens a frame: 392x280 (= video_frame_size(320, 240, 6))
    assert (t, w * 14, h * 14) == (3, *video_frame_size(320, 240, 6)) == (3, 392, 280)
    assert int((inputs["input_ids"] == VIDEO_PAD).sum()) == t * h * w // 4
    (completion,) = qwen2vl_backend.generate(conversation, GenerationParams(max_new_tokens=3))
    assert completion.image_sizes == ()
    assert completion.usage.visual_tokens == t * h * w // 4 == 420


def test_qwen25vl_video_knows_how_far_apart_frames_are(tiny_qwen25vl, tmp_path) -> None:
    """Qwen2.5-VL places frames in time: temporal patch (2 frames) / sampled fps (2/s)
    = 1 s per grid step, whatever the source frame rate."""
    from tests.fixtures.media import write_video

    backend = load_backend("transformers", model=tiny_qwen25vl, device="cpu")
    for fps in (10, 25):
        path = write_video(tmp_path / f"rec{fps}.mp4", seconds=2, fps=fps, size=(320, 240))
        conversation = [{"role": "user", "content": [{"type": "video", "video": str(path)}]}]
        inputs = backend.prepare_inputs([conversation])
        assert [float(v) for v in inputs["second_per_grid_ts"]] == pytest.approx([1.0])
    frames = [screenshot((320, 240), i) for i in range(4)]
    listed = [{"role": "user", "content": [{"type": "video", "video": frames, "sample_fps": 1.0}]}]
    assert [float(v) for v in backend.prepare_inputs([listed])["second_per_grid_ts"]] == [2.0]


def test_the_checkpoint_pixel_limits_apply_when_none_are_given(tmp_path, qwen_tokenizer) -> None:
    """A checkpoint saved with max_pixels 1,003,520 sees 1920x1080 as 1316x728 in both
    preprocessing modes, as its processor (and a server running it) would."""
    from tests.fixtures.tiny_qwen import build_tiny_model

    folder = build_tiny_model(tmp_path / "small", tokenizer=qwen_tokenizer, max_pixels=1_003_520)
    for mode in ("qwen-vl-utils", "processor"):
        backend = load_backend("transformers", model=folder, device="cpu", preprocess=mode)
        (completion,) = backend.generate(
            ask(screenshot((1920, 1080))), GenerationParams(max_new_tokens=1)
        )
        assert completion.image_sizes == ((1316, 728),), mode


def test_missing_folder_fails_fast_with_advice(tmp_path) -> None:
    start = time.monotonic()
    with pytest.raises(ModelNotFoundError, match="local folder"):
        load_backend("transformers", model=str(tmp_path / "no-such-model"))
    with pytest.raises(ModelNotFoundError, match=r"config\.json"):
        load_backend("transformers", model=str(tmp_path))
    assert time.monotonic() - start < 60  # generous: what matters is no retry loop


def test_uncached_hub_id_offline_fails_fast_with_advice(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", "/nonexistent-pixelpilot-hf-home")
    with pytest.raises(ModelNotFoundError, match="HF_HUB_OFFLINE"):
        load_backend("transformers", model="Qwen/Qwen2-VL-7B-Instruct")
