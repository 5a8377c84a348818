"""An X11 desktop as an environment: mss sees, xdotool acts, python-xlib answers questions.

Capture uses mss on the chosen display (a monitor, all monitors, or any region of the
X screen), so the model sees exactly the pixels a person would. Input goes through
`xdotool`, one short subprocess per action with DISPLAY set in the child's environment
only, rather than pyautogui: `pyautogui.write` silently drops every non-ASCII character
(the model's "Grüße 東京" would arrive as "Gre "), and pyautogui reads `$DISPLAY` once at
import, so it cannot drive a display chosen at run time or two displays in one process.
As a consequence pyautogui's `PAUSE` (a 0.1 s sleep after every call) and `FAILSAFE`
(abort when the pointer reaches a corner) do not apply here: there is no per-call pause,
and no corner abort, since a model legitimately clicks in corners; stop a run with the
agent's own step limit or Ctrl-C instead.

Typing: xdotool `type` gets a UTF-8 locale (without one it refuses non-ASCII text), a
12 ms key delay (with none, CJK was dropped), and every character the keymap lacks bound
to a spare keycode beforehand (see `_bind`), so Unicode text arrives complete. Read-only
questions (which window has the focus, what is under the pointer) go through one
python-xlib connection: a subprocess each would double the cost of `observe()`.

Units: on X11 the server's pixels are the screen's pixels, so `Space.SCREEN` is X pixels
(including the monitor's origin). `scale` is screenshot pixels per X pixel: 2 gives the
model a HiDPI-like picture, 0.5 saves tokens; the screenshot is resampled and input is
mapped back by the same factor through the frame, like a browser's device pixel ratio.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

from pixelpilot.tools import (
    Action,
    Click,
    Drag,
    GoBack,
    Key,
    Move,
    Navigate,
    Point,
    ScreenFrame,
    Scroll,
    Type,
    Wait,
)

from .base import ActionFailed, ControllerError, ElementInfo, Environment, Observation

_BUTTONS = {"left": "1", "middle": "2", "right": "3"}
_WHEEL = {"up": "4", "down": "5", "left": "6", "right": "7"}
_DRAG_STEPS = 10
# Canonical key names (tools.keys) -> X keysym names, as `xdotool key` wants them.
_KEYSYMS: dict[str, str] = {
    "ctrl": "ctrl", "alt": "alt", "shift": "shift", "meta": "super",
    "enter": "Return", "tab": "Tab", "escape": "Escape", "backspace": "BackSpace",
    "delete": "Delete", "insert": "Insert", "space": "space",
    "up": "Up", "down": "Down", "left": "Left", "right": "Right", "home": "Home",
    "end": "End", "pageup": "Prior", "pagedown": "Next", "capslock": "Caps_Lock",
    "numlock": "Num_Lock", "scrolllock": "Scroll_Lock", "printscreen": "Print",
    "pause": "Pause", "contextmenu": "Menu",
    **{f"f{i}": f"F{i}" for i in range(1, 25)},
    "+": "plus", "-": "minus", ",": "comma", ".": "period", "/": "slash",
    "\\": "backslash", ";": "semicolon", "'": "apostrophe", "[": "bracketleft",
    "]": "bracketright", "`": "grave", "=": "equal", "!": "exclam", "@": "at",
    "#": "numbersign", "$": "dollar", "%": "percent", "^": "asciicircum",
    "&": "ampersand", "*": "asterisk", "(": "parenleft", ")": "parenright",
    "_": "underscore", "{": "braceleft", "}": "braceright", "|": "bar", ":": "colon",
    '"': "quotedbl", "<": "less", ">": "greater", "?": "question", "~": "asciitilde",
}  # fmt: skip


def x_keysym(name: str) -> str:
    """The X keysym for one canonical key name; other characters as Unicode keysyms."""
    if name in _KEYSYMS:
        return _KEYSYMS[name]
    if len(name) == 1:
        return name if name.isascii() and name.isalnum() else f"U{ord(name):04X}"
    raise ActionFailed(f"The key {name!r} cannot be pressed on this desktop.")


def _char_keysym(char: str) -> int | None:
    """The keysym xdotool types `char` with: Latin-1 as is, the rest as Unicode keysyms;
    None for control characters, which it maps to keys (Return, Tab) itself."""
    code = ord(char)
    if code < 0x20 or code == 0x7F:
        return None
    return code if code < 0x100 else 0x01000000 + code


def _child_env(display: str) -> dict[str, str]:
    """DISPLAY for the child only, and a UTF-8 locale so xdotool accepts non-ASCII."""
    env = {**os.environ, "DISPLAY": display}
    locale = env.get("LC_ALL") or env.get("LC_CTYPE") or env.get("LANG") or ""
    if "utf-8" not in locale.lower() and "utf8" not in locale.lower():
        env["LC_ALL"] = "C.UTF-8"
    return env


class DesktopEnvironment(Environment):
    """Observe and drive an X display; `monitor` and `scale` decide what the model sees.

    `monitor` is an mss monitor index (1 = the first monitor, 0 = all of them) or a
    region `(left, top, width, height)` in X pixels, which is also how a second monitor
    is emulated on one Xvfb screen. The monitor layout is read once, at construction.
    """

    def __init__(
        self,
        display: str | None = None,
        *,
        monitor: int | tuple[int, int, int, int] = 1,
        scale: float = 1.0,
        settle_timeout_s: float = 1.0,
    ) -> None:
        display = display or os.environ.get("DISPLAY")
        if not display:
            raise ControllerError(
                "No X display: pass display=':N' or set DISPLAY. For a private headless "
                "one, start pixelpilot.environments.xvfb.Xvfb and pass its .display."
            )
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a positive number, got {scale}")
        xdotool = shutil.which("xdotool")
        if xdotool is None:
            raise ControllerError("xdotool is not installed (apt-get install xdotool)")
        self.display, self.scale, self.settle_timeout_s = display, scale, settle_timeout_s
        self._xdotool, self._env = xdotool, _child_env(display)
        self._xlib: Any = None
        self._capture: Any = None
        self._bound: dict[int, int] = {}  # spare keycode -> keysym we bound for typing
        try:
            self._xlib = self._open_xlib()
            self._capture = self._open_capture()
            self.region = self._resolve_monitor(monitor)
        except BaseException:
            self._close()
            raise

    # -- connections ----------------------------------------------------------------
    def _open_xlib(self) -> Any:
        try:
            from Xlib import display as xdisplay
        except ImportError as error:
            raise ControllerError(
                "python-xlib is missing: pip install 'pixelpilot[desktop]'"
            ) from error
        try:
            connection = xdisplay.Display(self.display)
            self._atoms = (connection.get_atom("_NET_WM_NAME"), connection.get_atom("UTF8_STRING"))
        except Exception as error:  # DisplayNameError, DisplayConnectionError, OSError
            raise ControllerError(f"cannot open X display {self.display!r}: {error}") from error
        return connection

    def _open_capture(self) -> Any:
        try:
            import mss
        except ImportError as error:
            raise ControllerError("mss is missing: pip install 'pixelpilot[desktop]'") from error
        # mss 10.2 made `mss.MSS` the constructor and deprecated `mss.mss`; older ones
        # only have `mss.mss` (their `MSS`, where present, is an abstract base).
        modern = hasattr(mss, "MSS") and hasattr(mss.base, "MSSImplementation")
        factory = mss.MSS if modern else mss.mss
        try:
            return factory(display=self.display)
        except Exception as error:
            raise ControllerError(
                f"mss cannot capture display {self.display!r}: {error}"
            ) from error

    def _resolve_monitor(
        self, monitor: int | tuple[int, int, int, int]
    ) -> tuple[int, int, int, int]:
        """(left, top, width, height) in X pixels, checked against the X screen."""
        monitors = self._capture.monitors
        if isinstance(monitor, int) and not isinstance(monitor, bool):
            if not 0 <= monitor < len(monitors):
                raise ValueError(
                    f"monitor {monitor} does not exist on {self.display}: use 1.."
                    f"{len(monitors) - 1} for one monitor, 0 for all of them, or a "
                    "(left, top, width, height) region"
                )
            chosen = monitors[monitor]
            return (chosen["left"], chosen["top"], chosen["width"], chosen["height"])
        left, top, width, height = (int(v) for v in monitor)
        screen = monitors[0]
        right, bottom = screen["left"] + screen["width"], screen["top"] + screen["height"]
        inside = left >= screen["left"] and top >= screen["top"]
        if width <= 0 or height <= 0 or not inside or left + width > right or top + height > bottom:
            raise ValueError(
                f"region {(left, top, width, height)} is not inside the screen "
                f"({screen['left']}, {screen['top']}, {screen['width']}, {screen['height']})"
            )
        return (left, top, width, height)

    # -- seeing -----------------------------------------------------------------------
    def _grab(self) -> Any:
        left, top, width, height = self.region
        box = {"left": left, "top": top, "width": width, "height": height}
        try:
            return self._capture.grab(box)
        except Exception as error:  # mss.ScreenShotError, or a dead XCB connection
            raise ControllerError(f"cannot capture display {self.display}: {error}") from error

    def _frame(self) -> ScreenFrame:
        _, _, width, height = self.region
        return ScreenFrame(
            width=max(1, round(width * self.scale)),
            height=max(1, round(height * self.scale)),
            scale=self.scale,
            origin=(float(self.region[0]), float(self.region[1])),
        )

    def observe(self) -> Observation:
        from PIL import Image

        shot = self._grab()
        image = Image.frombytes("RGB", shot.size, shot.raw, "raw", "BGRX")
        frame = self._frame()
        if frame.size != image.size:
            # shrinking: each pixel the average of the X pixels it covers, as a screen of
            # lower resolution would show it (and 3x faster than Lanczos); growing: bicubic
            shrink = frame.width < image.width
            resample = Image.Resampling.BOX if shrink else Image.Resampling.BICUBIC
            image = image.resize(frame.size, resample)
        return Observation(image=image, frame=frame, focused_window=self._focused_window())

    def _settle(self) -> None:
        """Wait until two grabs 30 ms apart are identical, at most `settle_timeout_s`."""
        deadline = time.monotonic() + self.settle_timeout_s
        previous = self._grab().raw
        while time.monotonic() < deadline:
            time.sleep(0.03)
            current = self._grab().raw
            if current == previous:
                return
            previous = current

    # -- asking X -----------------------------------------------------------------------
    def _ask(self, question: Any, *args: Any) -> Any:
        """Run one python-xlib query; a vanished window is None, a vanished display fatal."""
        from Xlib import error as xerror

        try:
            return question(*args)
        except (xerror.ConnectionClosedError, xerror.DisplayError, OSError) as error:
            raise ControllerError(f"lost X display {self.display}: {error}") from error
        except xerror.XError:
            return None

    def _name(self, window: Any) -> str | None:
        """_NET_WM_NAME (UTF-8) if set, else WM_NAME; None for unnamed windows."""
        prop = self._ask(window.get_full_text_property, *self._atoms)
        name = prop or self._ask(window.get_wm_name)
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        return name or None

    def _window_under_pointer(self) -> str | None:
        """Descend from the root along the pointer to the first named window."""
        window = self._xlib.screen().root
        for _ in range(32):  # a window tree is never this deep; a bound against loops
            reply = self._ask(window.query_pointer)
            child = getattr(reply, "child", None)
            if not child:
                return None
            window = child
            name = self._name(window)
            if name:
                return name
        return None

    def _focused_window(self) -> str | None:
        """Name of the focused top-level window; with focus following the pointer (no
        window manager: X's PointerRoot), the one under the pointer."""
        focus = getattr(self._ask(self._xlib.get_input_focus), "focus", None)
        if focus is None or isinstance(focus, int):  # X.NONE or X.PointerRoot
            return self._window_under_pointer()
        root = self._xlib.screen().root
        for _ in range(32):
            if focus is None or focus == root:
                return None
            name = self._name(focus)
            if name:
                return name
            focus = getattr(self._ask(focus.query_tree), "parent", None)
        return None

    def _pointer(self) -> tuple[int, int]:
        reply = self._ask(self._xlib.screen().root.query_pointer)
        return (reply.root_x, reply.root_y) if reply is not None else (0, 0)

    # -- acting -------------------------------------------------------------------------
    def _xdo(self, *args: object, timeout: float = 30.0) -> str:
        """Run one xdotool command line; any failure of xdotool itself is infrastructure."""
        argv = [self._xdotool, *(str(a) for a in args)]
        try:
            done = subprocess.run(
                argv,
                env=self._env,
                capture_output=True,
                encoding="utf-8",
                errors="replace",
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:  # it carries the argv: the typed text, a secret
            raise ControllerError(
                f"xdotool {args[0]} hung for {timeout:g} s on {self.display}"
            ) from None
        except OSError as error:  # an argv too long (E2BIG), xdotool gone: no argv kept
            raise ControllerError(f"xdotool {args[0]} could not run: {error.strerror}") from None
        if done.returncode != 0 or "Can't open display" in done.stderr:
            raise ControllerError(
                f"xdotool {args[0]} failed on display {self.display} "
                f"(exit {done.returncode}): {done.stderr.strip()}"
            )
        return done.stdout

    def _pixel(self, point: Point) -> tuple[int, int]:
        """A `Space.SCREEN` point to the X pixel it lies in, kept inside the monitor."""
        left, top, width, height = self.region
        x = min(max(math.floor(point.x), left), left + width - 1)
        y = min(max(math.floor(point.y), top), top + height - 1)
        return x, y

    def _move(self, x: int, y: int) -> ElementInfo | None:
        """Put the pointer at (x, y) and say what window is there, before acting on it."""
        self._xdo("mousemove", x, y)
        return self._element()

    def _element(self) -> ElementInfo | None:
        name = self._window_under_pointer()
        return ElementInfo(name=name) if name else None

    def _perform(self, action: Action) -> tuple[ElementInfo | None, str | None]:
        if isinstance(action, Click):  # point None: click where the pointer is
            element = self._move(*self._pixel(action.point)) if action.point else self._element()
            clicks, button = action.clicks, _BUTTONS[action.button]
            self._xdo("click", "--repeat", clicks, "--delay", 40, button)
            return element, None
        if isinstance(action, Move):
            return self._move(*self._pixel(action.point)), None
        if isinstance(action, Drag):
            return self._drag(action), None
        if isinstance(action, Scroll):
            element = self._move(*self._pixel(action.point)) if action.point else self._element()
            self._xdo("click", "--repeat", action.amount, "--delay", 30, _WHEEL[action.direction])
            return element, None
        if isinstance(action, Type):
            self._type(action)
            return None, None
        if isinstance(action, Key):
            list(self._bound_chunks("".join(k for k in action.keys if len(k) == 1)))
            self._xdo("key", "+".join(x_keysym(k) for k in action.keys))
            return None, None
        if isinstance(action, Navigate):
            raise ActionFailed(
                "There is no browser on this desktop to navigate: open one (click its icon "
                "or window) and type the URL into its address bar instead."
            )
        if isinstance(action, GoBack):
            self._xdo("key", "alt+Left")
            return None, "Sent alt+Left, the usual 'back' shortcut; check that it went back."
        if isinstance(action, Wait):
            time.sleep(action.seconds)
            return None, None
        raise ActionFailed(f"The action {action.action!r} is not supported on the desktop.")

    def _drag(self, action: Drag) -> ElementInfo | None:
        """Press, move in steps with short pauses (apps see a real motion, not a jump:
        Tk and others coalesce motion events that arrive together), release."""
        if action.start is None:
            start, element = self._pointer(), self._element()
        else:
            start = self._pixel(action.start)
            element = self._move(*start)
        end = self._pixel(action.end)
        chain: list[object] = ["mousedown", 1]
        for step in range(1, _DRAG_STEPS + 1):
            x = round(start[0] + (end[0] - start[0]) * step / _DRAG_STEPS)
            y = round(start[1] + (end[1] - start[1]) * step / _DRAG_STEPS)
            chain += ["sleep", 0.02, "mousemove", x, y]
        self._xdo(*chain, "sleep", 0.02, "mouseup", 1)
        return element

    # -- typing ---------------------------------------------------------------------------
    def _type(self, action: Type) -> None:
        if "\x00" in action.text:
            raise ActionFailed("The text contains a NUL character, which cannot be typed.")
        for chunk in self._bound_chunks(action.text):
            self._xdo("type", "--delay", 12, "--", chunk, timeout=30 + 0.1 * len(chunk))
        if action.submit:
            self._xdo("key", "Return")

    def _bound_chunks(self, text: str) -> Iterator[str]:
        """Split `text` so that the characters each chunk lacks in the keymap fit on the
        spare keycodes, and bind them just before the chunk is handed out."""
        present, free = self._keymap()
        chunk, needed = "", set()
        for char in text:
            keysym = _char_keysym(char)
            if free and keysym is not None and keysym not in present and keysym not in needed:
                if len(needed) == len(free):
                    self._bind(needed, free)
                    yield chunk
                    chunk, needed = "", set()
                needed.add(keysym)
            chunk += char
        if chunk:
            self._bind(needed, free)
            yield chunk

    def _keymap(self) -> tuple[set[int], list[int]]:
        """Keysyms the keyboard map has (our bindings aside) and keycodes free to bind."""
        info = self._xlib.display.info
        first, count = info.min_keycode, info.max_keycode - info.min_keycode + 1
        rows = self._ask(self._xlib.get_keyboard_mapping, first, count) or []
        present: set[int] = set()
        free: list[int] = []
        for code, row in enumerate(rows, start=first):
            if code in self._bound or not any(row):
                free.append(code)
            else:
                present.update(k for k in row if k)
        return present, free

    def _bind(self, needed: set[int], free: list[int]) -> None:
        """Bind the keysyms a chunk lacks to spare keycodes before xdotool starts, so it
        finds them in the map. Left alone, xdotool rebinds one scratch keycode per
        character, and an app that looks the key up after the next rebind gets another
        character or none (1 text in 30 lost characters here); a binding that stays put
        while the app catches up cannot be misread."""
        if not needed:
            return
        kept = {code for code, keysym in self._bound.items() if keysym in needed}
        todo = sorted(needed - {self._bound[code] for code in kept})
        spare = sorted((c for c in free if c not in kept), key=lambda c: c in self._bound)
        codes = spare[: len(todo)]  # never-bound keycodes first: no need to wait for them
        if any(code in self._bound for code in codes):
            self._settle()  # the app may still be reading keys typed with these codes
            time.sleep(0.1)
        for code, keysym in zip(codes, todo, strict=True):
            self._ask(self._xlib.change_keyboard_mapping, code, [[keysym, keysym]])
            self._bound[code] = keysym
        self._ask(self._xlib.sync)

    def _close(self) -> None:
        with contextlib.suppress(Exception):  # give the spare keycodes back, if we still can
            for code in self._bound:
                self._xlib.change_keyboard_mapping(code, [[0, 0]])
            self._xlib.sync()
        for resource in (self._capture, self._xlib):
            if resource is not None:
                # closing a connection to a display that went away may fail; it is gone
                with contextlib.suppress(Exception):
                    resource.close()
        self._capture = self._xlib = None

    def __repr__(self) -> str:
        return f"DesktopEnvironment({self.display!r}, region={self.region}, scale={self.scale})"
