"""Shared test helpers."""

from __future__ import annotations

from typing import Any

from pixelpilot.tools import Action


def compact(action: Action) -> tuple[Any, ...]:
    """An action as a short tuple, coordinates rounded to 0.01 px, for readable goldens."""
    data = action.model_dump()
    kind = data.pop("action")
    out: list[Any] = [kind]
    for value in data.values():
        if isinstance(value, dict) and "space" in value:
            out += [round(value["x"], 2), round(value["y"], 2)]
        elif value is None:
            out.append(None)
        elif isinstance(value, tuple):
            out.append("+".join(value))
        else:
            out.append(value)
    return tuple(out)


def assert_parses(reply: str, dialect: str, size: tuple[int, int], expected: list[tuple]) -> None:
    """`reply` parses to `expected` (compact tuples; floats compared to 0.01 px)."""
    from pixelpilot.vlm import parse_actions

    got = [compact(a) for a in parse_actions(reply, dialect, screenshot_size=size)]
    want = [tuple(round(v, 2) if isinstance(v, float) else v for v in e) for e in expected]
    assert got == want


# -- offline model fixtures (built once per test session) ---------------------------
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def qwen_tokenizer():
    from tests.fixtures.tiny_qwen import build_tokenizer

    return build_tokenizer()


@pytest.fixture(scope="session")
def tiny_qwen2vl(tmp_path_factory, qwen_tokenizer):
    """Folder of a tiny random-weight Qwen2-VL checkpoint with the real tokenizer."""
    from tests.fixtures.tiny_qwen import build_tiny_model

    return build_tiny_model(
        tmp_path_factory.mktemp("tiny-qwen2vl"), "qwen2vl", tokenizer=qwen_tokenizer
    )


@pytest.fixture(scope="session")
def tiny_qwen25vl(tmp_path_factory, qwen_tokenizer):
    from tests.fixtures.tiny_qwen import build_tiny_model

    return build_tiny_model(
        tmp_path_factory.mktemp("tiny-qwen25vl"), "qwen25vl", tokenizer=qwen_tokenizer
    )


@pytest.fixture(scope="session")
def qwen2vl_backend(tiny_qwen2vl):
    from pixelpilot.vlm import load_backend

    return load_backend("transformers", model=tiny_qwen2vl, device="cpu")
