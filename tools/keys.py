"""One key vocabulary for every dialect and controller.

Models spell keys many ways ("ctrl c", "Ctrl+C", "command+shift+t", "Return",
"ArrowDown"); controllers each want their own names. Everything in between uses the
canonical names here, so a controller needs one table and a dialect needs none.
"""

from __future__ import annotations

import re

MODIFIERS: tuple[str, ...] = ("ctrl", "alt", "shift", "meta")

NAMED_KEYS: frozenset[str] = frozenset(
    {
        *MODIFIERS,
        "enter", "tab", "escape", "backspace", "delete", "insert", "space",
        "up", "down", "left", "right", "home", "end", "pageup", "pagedown",
        "capslock", "numlock", "scrolllock", "printscreen", "pause", "contextmenu",
        *(f"f{i}" for i in range(1, 25)),
    }
)  # fmt: skip

ALIASES: dict[str, str] = {
    "control": "ctrl", "ctl": "ctrl", "ctrlleft": "ctrl", "ctrlright": "ctrl",
    "controlleft": "ctrl", "controlright": "ctrl",
    "option": "alt", "opt": "alt", "altleft": "alt", "altright": "alt", "alt_l": "alt",
    "cmd": "meta", "command": "meta", "win": "meta", "windows": "meta", "super": "meta",
    "super_l": "meta", "os": "meta", "metaleft": "meta", "metaright": "meta",
    "winleft": "meta", "winright": "meta",
    "shiftleft": "shift", "shiftright": "shift", "shift_l": "shift",
    "return": "enter", "kp_enter": "enter", "newline": "enter",
    "esc": "escape", "del": "delete", "ins": "insert", "bksp": "backspace", "back": "backspace",
    "spacebar": "space", " ": "space",
    "arrowup": "up", "arrowdown": "down", "arrowleft": "left", "arrowright": "right",
    "uparrow": "up", "downarrow": "down", "leftarrow": "left", "rightarrow": "right",
    "arrow_up": "up", "arrow_down": "down", "arrow_left": "left", "arrow_right": "right",
    "page_up": "pageup", "page_down": "pagedown", "pgup": "pageup", "pgdn": "pagedown",
    "prior": "pageup", "next": "pagedown", "caps_lock": "capslock",
    "print": "printscreen", "prtsc": "printscreen", "prtscr": "printscreen",
    "menu": "contextmenu", "apps": "contextmenu",
    "plus": "+", "minus": "-", "comma": ",", "period": ".", "slash": "/",
    "backslash": "\\", "semicolon": ";", "equal": "=", "equals": "=",
}  # fmt: skip

#: more keys than anyone presses at once: a longer "chord" is a typing mistake
MAX_CHORD = 8

_SPLIT = re.compile(r"\s*\+\s*|\s+|-(?=\w)")


def normalize_key(name: str) -> str:
    """Return the canonical name of one key, or raise ValueError naming the problem."""
    raw = name.strip()
    if len(raw) == 1:
        return ALIASES.get(raw, raw.lower())
    key = raw.lower()
    key = ALIASES.get(key, key)
    if key in NAMED_KEYS:
        return key
    if len(key) == 1:
        return key
    raise ValueError(
        f"Unknown key {name[:40]!r}. Use a single character or one of: "
        + ", ".join(sorted(NAMED_KEYS))
    )


def split_chord(text: str) -> list[str]:
    """Split a chord the way models write it: 'ctrl c', 'Ctrl+C', 'ctrl-shift-t', 'ctrl++'."""
    stripped = text.strip()
    if not stripped:
        return []
    if len(stripped) == 1:
        return [stripped]
    parts: list[str] = []
    for piece in _SPLIT.split(stripped):
        if piece:
            parts.append(piece)
    if stripped.endswith("++") or stripped == "+":
        parts.append("+")
    return parts


def normalize_chord(keys: object) -> tuple[str, ...]:
    """Canonical chord: modifiers first in a fixed order, then the other keys in order.

    Takes a chord string ("ctrl+c") or a list of key names whose items may be chords
    themselves (`["ctrl+c"]`, as Qwen2.5-VL writes them). Anything else (numbers, None,
    nested lists: whatever a model put there) raises ValueError naming the problem, never
    another exception, because a reply's keys arrive here unchecked.
    """
    if isinstance(keys, str):
        names = split_chord(keys)
    elif isinstance(keys, list | tuple):
        names = []
        for item in keys:
            if not isinstance(item, str):
                raise ValueError(f"each key must be a key name in quotes, not {_short(item)}")
            names.extend(split_chord(item))
    else:
        raise ValueError(f"keys must be a key name or a list of key names, not {_short(keys)}")
    if not names:
        raise ValueError("A key action needs at least one key.")
    if len(names) > MAX_CHORD:
        raise ValueError(f"A chord has at most {MAX_CHORD} keys; {len(names)} were given.")
    canonical = [normalize_key(k) for k in names]
    mods = [m for m in MODIFIERS if m in canonical]
    rest: list[str] = []
    for k in canonical:
        if k not in MODIFIERS and k not in rest:
            rest.append(k)
    return (*mods, *rest)


def _short(value: object) -> str:
    """A short description of a wrong value for an error message (never a huge repr)."""
    if value is None or isinstance(value, bool | float):
        return repr(value)
    if isinstance(value, int):
        return repr(value) if value.bit_length() <= 64 else "a huge number"
    return f"a {type(value).__name__}"
