"""Questions about the screen: `read` (a typed answer) and `expect` (yes or no).

Both ask for JSON and validate it with pydantic, so a script gets a `float`, a list or
its own `BaseModel` — never a string it must parse again. The JSON schema of the wanted
type goes in the prompt; a reply that does not validate is answered once with the
validation error, then `ReadError` carries the reply. Replies are read tolerantly (a
```json fence, text around the JSON) but never evaluated.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_WORD = re.compile(r"\b(yes|no|true|false)\b", re.IGNORECASE)


class Answer(BaseModel):
    """What `expect` asks the model for."""

    model_config = ConfigDict(extra="ignore")

    answer: Literal["yes", "no"]
    reason: str = ""


def read_prompt(question: str, schema: dict[str, Any]) -> str:
    return (
        "Look at the screenshot and answer the question from what it shows.\n"
        f"Question: {question}\n"
        "Reply with JSON only (no other text), a value that matches this JSON schema:\n"
        f"{json.dumps(schema, ensure_ascii=False)}"
    )


def expect_prompt(statement: str) -> str:
    return (
        "Look at the screenshot. Is the following statement true of what it shows?\n"
        f"Statement: {statement}\n"
        'Reply with JSON only: {"answer": "yes" or "no", "reason": "one short sentence"}'
    )


def retry_prompt(error: str) -> str:
    return (
        f"That reply is not valid: {error}\n"
        "Reply again with JSON only, a value that matches the schema."
    )


def question(image: Any, prompt: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [
        {"type": "image", "image": image}, {"type": "text", "text": prompt},
    ]}]  # fmt: skip


def follow_up(messages: list[dict[str, Any]], reply: str, prompt: str) -> list[dict[str, Any]]:
    return [
        *messages,
        {"role": "assistant", "content": [{"type": "text", "text": reply}]},
        {"role": "user", "content": [{"type": "text", "text": prompt}]},
    ]


def json_candidates(text: str) -> list[Any]:
    """The JSON values a reply may mean, most likely first: the whole reply, a fenced
    block, then the first object, array or scalar found in the text."""
    found: list[Any] = []
    for chunk in [text.strip(), *(m.strip() for m in _FENCE.findall(text))]:
        try:
            found.append(json.loads(chunk))
        except ValueError:
            continue
    decoder = json.JSONDecoder()
    for index, char in enumerate(text):
        if char in '{["' or char.isdigit() or char == "-":
            try:
                value, _ = decoder.raw_decode(text, index)
            except ValueError:
                continue
            found.append(value)
            break
    return found


def validate(adapter: TypeAdapter[Any], text: str, *, plain_text: bool) -> Any:
    """The reply as the wanted type, or ValidationError/ValueError saying why not.
    `plain_text`: the wanted type is `str`, and a reply that is not JSON is the answer."""
    candidates = json_candidates(text)
    error: Exception | None = None
    for candidate in candidates:
        try:
            return adapter.validate_python(candidate)
        except ValidationError as failure:
            error = error or failure
    if plain_text:
        return text.strip()
    if error is None:
        raise ValueError("the reply holds no JSON value")
    raise error


def verdict(text: str) -> Answer:
    """An `Answer` from a reply: the JSON asked for, else a bare yes/no word."""
    for candidate in json_candidates(text):
        try:
            return Answer.model_validate(candidate)
        except ValidationError:
            continue
    match = _WORD.search(text)
    if match is None:
        raise ValueError('the reply says neither "yes" nor "no"')
    word = match.group(1).lower()
    rest = text[match.end() :].strip(" .,:;-\n")
    return Answer(answer="yes" if word in ("yes", "true") else "no", reason=rest[:300])


def explain(error: Exception) -> str:
    """A validation error in a few lines, for the model and for the script's author."""
    if isinstance(error, ValidationError):
        lines = [
            f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in error.errors()
        ]
        return "; ".join(lines[:5])
    return str(error)
