"""One error family (issue 14 item 18, DESIGN.md "Errors: one family, two kinds"): every
exception class the library defines is a `PixelpilotError` of exactly one kind, except
the few private ones that never leave the module that raises them (listed, with why)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

from pixelpilot.tools import FixableError, InfrastructureError, PixelpilotError

PACKAGES = ("tools", "vlm", "environments", "agent", "mcpserver", "cli")
PRIVATE = {  # caught where they are raised, never seen by a caller
    "pixelpilot.vlm.dialects._text.LiteralError": "Dialect.parse turns it into ActionParseError",
    "pixelpilot.vlm.dialects._text.DepthError": "a LiteralError (too deeply nested)",
    "pixelpilot.vlm.backends.openai._ExtrasRejected": "the request retries, or BackendError",
    "pixelpilot.vlm.backends.openai_http.DeadlineExpired": "OpenAIBackend makes a BackendError",
    "pixelpilot.agent.locate._Unreadable": "locate asks again, then raises NotFound",
}


def defined_errors() -> list[type[BaseException]]:
    found = []
    for package in PACKAGES:
        root = importlib.import_module(f"pixelpilot.{package}")
        names = [root.__name__] + [
            m.name for m in pkgutil.walk_packages(root.__path__, prefix=f"{root.__name__}.")
        ]
        for name in names:
            module = importlib.import_module(name)
            for _, value in inspect.getmembers(module, inspect.isclass):
                if issubclass(value, BaseException) and value.__module__ == name:
                    found.append(value)
    return found


def test_every_error_we_define_is_in_the_family_and_of_one_kind() -> None:
    errors = defined_errors()
    assert len(errors) > 15  # the walk found the library's errors
    outside, both = [], []
    for error in errors:
        name = f"{error.__module__}.{error.__qualname__}"
        if name in PRIVATE or error in (PixelpilotError, FixableError, InfrastructureError):
            continue
        if not issubclass(error, PixelpilotError):
            outside.append(name)
        if issubclass(error, FixableError) and issubclass(error, InfrastructureError):
            both.append(name)
    assert outside == [] and both == []


@pytest.mark.parametrize(
    ("name", "kind"),
    [("pixelpilot.vlm.backend.BackendError", InfrastructureError),
     ("pixelpilot.environments.base.ControllerError", InfrastructureError),
     ("pixelpilot.agent.trajectory.RecordingError", InfrastructureError),
     ("pixelpilot.environments.base.ActionFailed", FixableError),
     ("pixelpilot.agent.run_options.UsageError", FixableError),
     ("pixelpilot.agent.trajectory.TrajectoryError", FixableError),
     ("pixelpilot.tools.errors.ActionParseError", FixableError)],
)  # fmt: skip
def test_each_error_has_the_kind_design_md_gives_it(name: str, kind: type) -> None:
    module, _, cls = name.rpartition(".")
    assert issubclass(getattr(importlib.import_module(module), cls), kind)
