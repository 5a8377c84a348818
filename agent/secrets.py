"""Secrets as placeholders: the model writes `{{password}}`, the screen gets the value.

Values are substituted only inside `execute`, at the last moment, and every record that
leaves the agent (trajectory, logs, feedback to the model) goes through `redact`, so a
secret never reaches the model, the terminal or the disk.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pixelpilot.tools import Action, Navigate, Type

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class Secrets:
    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values = {k: v for k, v in (values or {}).items() if v}

    def __bool__(self) -> bool:
        return bool(self._values)

    @property
    def names(self) -> list[str]:
        return sorted(self._values)

    def substitute(self, action: Action) -> Action:
        """The action with `{{name}}` replaced by the value, for the controller only."""
        if isinstance(action, Type):
            return action.model_copy(update={"text": self._fill(action.text)})
        if isinstance(action, Navigate):
            return action.model_copy(update={"url": self._fill(action.url)})
        return action

    def _fill(self, text: str) -> str:
        def value(match: re.Match[str]) -> str:
            return self._values.get(match.group(1), match.group(0))

        return _PLACEHOLDER.sub(value, text)

    def redact(self, data: Any) -> Any:
        """`data` (JSON-like) with every secret value replaced by its placeholder."""
        if not self._values:
            return data
        if isinstance(data, str):
            for name, secret in sorted(self._values.items(), key=lambda kv: -len(kv[1])):
                data = data.replace(secret, "{{" + name + "}}")
            return data
        if isinstance(data, dict):
            return {k: self.redact(v) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.redact(v) for v in data]
        return data
