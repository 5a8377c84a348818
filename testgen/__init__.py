"""UI tests from runs: a successful trajectory becomes a pytest-playwright test that
replays without the model and heals a step whose locator broke (`Healer`).

`Healer` is imported on first use: the pytest plugin (`pixelpilot.testgen.plugin`) loads
this package in every pytest run, which must not pay for the agent's imports."""

from typing import Any

__all__ = ["Healer"]


def __getattr__(name: str) -> Any:
    if name == "Healer":
        from .healer import Healer

        return Healer
    raise AttributeError(f"module 'pixelpilot.testgen' has no attribute {name!r}")
