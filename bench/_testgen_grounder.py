"""The survival bench's oracle grounder: a backend for the Healer's model tier that
answers from the live page's DOM instead of a model, in UI-TARS-1.5's own words.

What it may use, so the measure stays honest: the step's plain-words description (the
only thing the Healer gives a model) and what a model would see. It reads the prompt's
description, finds the one element on screen that the words name (a quoted name first;
else the words shared with each element's accessible name, role words and a "submit"
counting), and points at it; it never reads the recorded locator, the recorded box, the
crop, or anything about whether the test passes. An element off screen is not seen (a
model sees the screenshot only). Its yes/no check answers yes when the picture it is
shown is the picture of that same element now.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Sequence
from typing import Any

from PIL import Image, ImageChops, ImageStat

DIALECT = "uitars15"
CONFIRM_MARGIN = 8  # CSS px around the element, as the Healer's crop takes it

# Every visible, on-screen, enabled thing a person could act on, with its accessible name.
_CANDIDATES = r"""() => {
  const sel = 'a[href],button,input:not([type=hidden]),select,textarea,summary,' +
    '[role=button],[role=link],[role=checkbox],[role=radio],[role=tab],[role=textbox],' +
    '[role=option],[role=menuitem]';
  const roleOf = (el) => {
    const r = el.getAttribute('role'); if (r) return r;
    const tag = el.tagName.toLowerCase(), type = (el.getAttribute('type') || '').toLowerCase();
    if (tag === 'a') return 'link';
    if (tag === 'button' || tag === 'summary' ||
        (tag === 'input' && ['submit', 'button', 'reset'].includes(type))) return 'button';
    if (tag === 'input' && type === 'checkbox') return 'checkbox';
    if (tag === 'input' && type === 'radio') return 'radio';
    if (tag === 'select') return 'combobox';
    return 'textbox';
  };
  const nameOf = (el) => {
    const aria = el.getAttribute('aria-label'); if (aria) return aria;
    const by = el.getAttribute('aria-labelledby');
    if (by) return by.split(/\s+/).map(i => (document.getElementById(i) || {}).textContent || '')
      .join(' ');
    if (el.labels && el.labels.length) return Array.from(el.labels).map(l => l.textContent)
      .join(' ');
    if (el.closest('label')) return el.closest('label').textContent;
    if (el.tagName === 'INPUT' && ['submit', 'button'].includes(el.type)) return el.value;
    return el.textContent || el.getAttribute('placeholder') || el.getAttribute('title') || '';
  };
  const out = [];
  for (const el of document.querySelectorAll(sel)) {
    if (el.disabled) continue;
    let r = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none') continue;
    if (r.width < 2 || r.height < 2) {  // a drawn check box: its label is what shows
      const lab = el.labels && el.labels[0]; if (!lab) continue;
      r = lab.getBoundingClientRect();
    }
    const cx = r.left + r.width / 2, cy = r.top + r.height / 2;
    if (cx < 0 || cy < 0 || cx >= innerWidth || cy >= innerHeight) continue;  // off screen
    const top = document.elementFromPoint(cx, cy);
    if (!top || !(el.contains(top) || top.contains(el) ||
                  (el.labels && Array.from(el.labels).some(l => l.contains(top))))) continue;
    out.push({role: roleOf(el), name: nameOf(el).replace(/\s+/g, ' ').trim(),
              submit: el.type === 'submit' || (el.tagName === 'BUTTON' && !el.getAttribute('type')
                      && !!el.form),
              box: [r.left, r.top, r.right, r.bottom]});
  }
  return {items: out, dpr: devicePixelRatio};
}"""
_ROLE_WORDS = {
    "button": "button", "link": "link", "field": "textbox", "box": "textbox",
    "textbox": "textbox", "checkbox": "checkbox", "tick": "checkbox", "radio": "radio",
    "choose": "radio", "tab": "tab", "option": "option",
}  # fmt: skip
_STOP = {"the", "a", "an", "click", "on", "to", "it", "with", "into", "of", "in", "and", "then",
         "step", "press", "select", "type", "next", "confirm", "form", "your"}  # fmt: skip
_WORD = re.compile(r"[a-z0-9]+")
_QUOTED = re.compile(r"['\"“‘]([^'\"”’]+)['\"”’]")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def choose(description: str, items: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The one element `description` names among `items`, or None (none or a tie)."""
    words = _words(description)
    roles = {_ROLE_WORDS[w] for w in words if w in _ROLE_WORDS}
    quoted = [q.strip().lower() for q in _QUOTED.findall(description)]
    scored = []
    for item in items:
        name = item["name"].lower()
        if quoted:
            score = 10.0 * sum(q == name for q in quoted) + sum(q in name for q in quoted)
        else:
            named = _words(name) - _STOP
            score = len((words - _STOP - set(_ROLE_WORDS)) & named) / max(1, len(named)) ** 0.5
        if score <= 0 and not ("submit" in words and item["submit"]):
            continue
        score += 0.5 * (item["role"] in roles) + 0.5 * ("submit" in words and item["submit"])
        scored.append((score, item))
    if not scored:
        return None
    scored.sort(key=lambda s: -s[0])
    if len(scored) > 1 and scored[1][0] == scored[0][0]:
        return None  # two things fit the words equally: a model could not tell either
    return scored[0][1]


class DomGrounder:
    """A `Backend` over a live Playwright `page` (same thread as the test)."""

    model = "oracle grounder (answers from the page's DOM; not a model)"

    def __init__(self, page: Any) -> None:
        self.page = page

    def generate(self, conversations: Sequence[Any], params: Any = None) -> list[Any]:
        from pixelpilot.vlm.backend import as_batch

        return [self._answer(c) for c in as_batch(conversations)]

    def _answer(self, messages: Any) -> Any:
        from pixelpilot.vlm import Completion

        text, image = _last_user(messages)
        statement = re.search(r"Statement: This picture shows (.+)", text)
        if statement:
            return Completion(text=self._confirm(statement[1].strip(), image))
        match = re.search(r"## User Instruction\n(.+)\Z", text, re.DOTALL)
        if match is None:
            return Completion(text="I cannot find that on the screen.")
        return Completion(text=self._point(match[1].strip(), image))

    def _found(self, description: str) -> tuple[dict[str, Any] | None, float]:
        seen = self.page.evaluate(_CANDIDATES)
        return choose(description, seen["items"]), float(seen["dpr"])

    def _point(self, description: str, image: Image.Image | None) -> str:
        from pixelpilot.evaluation.oracle_words import Grid, grounding_reply

        item, dpr = self._found(description)
        if item is None or image is None:
            return "I cannot find that on the screen."
        box = tuple(v * dpr for v in item["box"])
        return grounding_reply(DIALECT, box, Grid.of(DIALECT, image.size))  # type: ignore[arg-type]

    def _confirm(self, description: str, crop: Image.Image | None) -> str:
        item, dpr = self._found(description)
        if item is None or crop is None:
            return '{"answer": "no", "reason": "nothing on screen fits the description"}'
        shot = Image.open(io.BytesIO(self.page.screenshot())).convert("RGB")
        x0, y0, x1, y1 = item["box"]
        region = (max(0, round((x0 - CONFIRM_MARGIN) * dpr)),
                  max(0, round((y0 - CONFIRM_MARGIN) * dpr)),
                  min(shot.width, round((x1 + CONFIRM_MARGIN) * dpr)),
                  min(shot.height, round((y1 + CONFIRM_MARGIN) * dpr)))  # fmt: skip
        mine = shot.crop(region)
        if mine.size != crop.size:
            return '{"answer": "no", "reason": "the picture is not of that element"}'
        diff = ImageStat.Stat(ImageChops.difference(mine, crop.convert("RGB"))).mean
        same = max(diff) < 8.0
        answer = "yes" if same else "no"
        return f'{{"answer": "{answer}", "reason": "compared with the element the words name"}}'


def _last_user(messages: Any) -> tuple[str, Image.Image | None]:
    """Every turn's text (the prompt may sit in a system turn) and the last image (PIL,
    or a data URL)."""
    texts, image = [], None
    for message in messages:
        content = message.get("content", [])
        for part in [{"type": "text", "text": content}] if isinstance(content, str) else content:
            if part.get("type") == "text":
                texts.append(part["text"])
            elif part.get("type") in ("image", "image_url"):
                image = _image(part.get("image") or part.get("image_url")) or image
    return "\n".join(texts), image


def _image(value: Any) -> Image.Image | None:
    if isinstance(value, Image.Image):
        return value
    url = value.get("url") if isinstance(value, dict) else value
    if isinstance(url, str) and url.startswith("data:"):
        return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    return None


def oracle_tier(page: Any) -> Any:
    """The Healer's model tier with this grounder as its backend."""
    from pixelpilot.testgen.model_tier import ModelTier

    return ModelTier(DomGrounder(page), DIALECT)
