"""History: bounded prompts and bounded memory (issue 14 item 15).

RSS is a noisy figure (bench/memory.py prints it); these tests check what is retained,
structurally: which screenshots are still alive after each step of a real run."""

from __future__ import annotations

import gc
import io
import weakref

import pytest
from PIL import Image

from pixelpilot.agent.history import History
from pixelpilot.agent.loop import Agent, AgentConfig
from pixelpilot.environments import FakeEnvironment
from pixelpilot.vlm import load_backend

CLICK = "Action: click(start_box='(500,500)')"


def image(i: int) -> Image.Image:
    return Image.new("RGB", (64, 48), (i % 256, 0, 0))


@pytest.mark.parametrize(("max_images", "max_text"), [(0, 0), (1, 0), (2, 3), (5, 10)])
def test_history_keeps_only_what_a_prompt_can_use(max_images, max_text) -> None:
    history = History(max_images=max_images, max_text=max_text)
    images = [image(i) for i in range(30)]
    for i, picture in enumerate(images):
        history.add(picture, f"reply {i}", feedback=f"feedback {i}")
        held = history.images()
        assert len(held) <= max_images
        assert held == (images[max(0, i + 1 - max_images) : i + 1] if max_images else [])
        assert len(history.entries) <= max_images + max_text
    turns = history.turns(image(99))
    # the prompt is what it always was: the last max_text replies as text, then the last
    # max_images with their screenshots, oldest first
    kept = max_images + max_text
    assert [t.reply for t in turns] == [f"reply {i}" for i in range(30 - kept, 30)]
    assert [t.image for t in turns] == [None] * max_text + images[30 - max_images :]


def test_a_run_lets_go_of_every_screenshot_it_can_no_longer_send(tmp_path) -> None:
    """A 40-step recorded run where every screenshot is new (decoded from PNG bytes, as
    the browser's are): after each step, only the screenshots history may still send
    (and the step in hand) are alive; all the others were freed, PNG bytes with them."""
    made: list[weakref.ref] = []

    def screen(step: int) -> Image.Image:
        buffer = io.BytesIO()
        Image.effect_noise((200, 120), 40).convert("RGB").save(buffer, format="PNG")
        decoded = Image.open(io.BytesIO(buffer.getvalue()))
        decoded.load()
        made.append(weakref.ref(decoded))
        return decoded

    backend = load_backend("scripted", replies=lambda conversation: CLICK)
    config = AgentConfig(record=tmp_path, max_steps=40, history_images=2, history_text=3,
                         video=False, report=False)  # fmt: skip
    agent = Agent(backend, FakeEnvironment(screen), dialect="uitars", config=config)
    alive_counts = []
    for step in agent.stream("task"):
        backend.requests.clear()  # the test double's own log of requests holds images
        del step
        gc.collect()
        alive_counts.append(sum(ref() is not None for ref in made))
    assert len(made) >= 40 * 2  # observe() is called once per step, frame reads too
    assert max(alive_counts) <= 2 + 2, alive_counts  # history's 2 + the current observation's
    gc.collect()
    assert sum(ref() is not None for ref in made) == 0  # the run is over: nothing is kept
