"""Prompts are the ones the models were trained with, and messages have the chat shape
the Qwen2-VL processors expect."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from pixelpilot.vlm import DIALECTS, Turn, get_dialect

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "prompts"


@pytest.mark.parametrize(
    ("dialect", "mode", "fixture"),
    [("uitars", "computer", "uitars_computer.txt"), ("uitars15", "computer", "uitars15_computer.txt"),
     ("uitars15", "mobile", "uitars15_mobile.txt")],
)  # fmt: skip
def test_uitars_prompts_are_verbatim(dialect: str, mode: str, fixture: str) -> None:
    expected = (FIXTURES / fixture).read_text(encoding="utf-8")
    assert get_dialect(dialect).system_prompt("<INSTRUCTION>", mode) == expected  # type: ignore[arg-type]


def test_qwen25vl_prompt_is_the_cookbook_one_with_the_resized_size() -> None:
    expected = (
        (FIXTURES / "qwen25vl_computer_1932x1092.txt").read_text(encoding="utf-8").rstrip("\n")
    )
    got = get_dialect("qwen25vl").system_prompt("task", model_size=(1932, 1092))
    assert got == expected


def test_qwen25vl_render_states_the_size_the_model_sees() -> None:
    messages = get_dialect("qwen25vl").render("Open Gmail", Image.new("RGB", (1920, 1080)))
    assert "The screen's resolution is 1932x1092." in messages[0]["content"][0]["text"]
    assert messages[1]["content"] == [{"type": "text", "text": "Open Gmail"}]


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_render_shapes_history_and_current_screenshot(name: str) -> None:
    dialect = get_dialect(name)
    old, kept, now = (Image.new("RGB", (800, 600), c) for c in ("red", "green", "blue"))
    history = [Turn(reply="first reply"), Turn(reply="second reply", image=kept)]
    messages = dialect.render("Buy milk", now, history)
    parts = [p for m in messages for p in m["content"]]
    images = [p["image"] for p in parts if p["type"] == "image"]
    texts = " ".join(p["text"] for p in parts if p["type"] == "text")
    assert images == [kept, now]  # the dropped screenshot is gone, the current one is last
    assert old not in images
    assert "first reply" in texts and "second reply" in texts and "Buy milk" in texts
    assert all(m["role"] in {"system", "user", "assistant"} for m in messages)


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_grounding_messages_carry_image_and_instruction(name: str) -> None:
    image = Image.new("RGB", (640, 480))
    messages = get_dialect(name).render_grounding("the Save button", image)
    parts = [p for m in messages for p in m["content"]]
    assert any(p.get("image") is image for p in parts)
    assert any("the Save button" in p.get("text", "") for p in parts)


def test_unknown_dialect_names_the_choices() -> None:
    with pytest.raises(ValueError, match="qwen25vl"):
        get_dialect("gpt-vision")


def test_qwen25vl_states_the_size_for_a_screenshot_file_too(tmp_path) -> None:
    path = tmp_path / "shot.png"
    Image.new("RGB", (1920, 1080)).save(path)
    messages = get_dialect("qwen25vl").render("Open Gmail", str(path))
    assert "The screen's resolution is 1932x1092." in messages[0]["content"][0]["text"]
