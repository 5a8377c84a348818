"""ScreenSpot-style grounding: does the point the model gives fall inside the element?

Records are the ScreenSpot family's JSON(L): `img_filename` (or `image`), `instruction`
(or VLMEvalKit's `question`), `bbox`, `data_type` (or ScreenSpot-Pro's `ui_type`: text /
icon) and `platform` (or ScreenSpot's `data_source`, or the split named in the file
name). ScreenSpot v1/v2 give boxes as [x, y, width, height], ScreenSpot-Pro and
pixelpilot's own sets as [x1, y1, x2, y2]; a record may say which in `bbox_format`, and
`--bbox-format` decides for files that do not. Each image goes to the model with the
dialect's grounding prompt; the answer (a point, or a box meaning its centre) is mapped
to image pixels by the same function the agent uses, and counts when it falls inside the
box, edges included.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from pixelpilot.tools import (
    ActionParseError,
    FixableError,
    ScreenFrame,
    Space,
    convert_point,
)
from pixelpilot.vlm import Completion, GenerationParams
from pixelpilot.vlm.backend import Backend, Conversation, Usage, as_batch
from pixelpilot.vlm.dialects import Dialect

BBoxFormat = Literal["auto", "xyxy", "xywh"]
_SOURCES = {"ios": "mobile", "android": "mobile", "windows": "desktop", "macos": "desktop",
            "gitlab": "web", "shop": "web", "forum": "web", "tool": "web"}  # fmt: skip


class GroundingRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    image: Path
    instruction: str
    bbox: tuple[float, float, float, float]  # x1, y1, x2, y2 in the image's pixels
    data_type: str = "unknown"
    platform: str = "unknown"
    source: str | None = None


class RecordError(FixableError, ValueError):
    """A record the file cannot mean: the message names the file and the line."""


def load_records(
    path: str | Path, *, images: str | Path | None = None, bbox_format: BBoxFormat = "auto"
) -> list[GroundingRecord]:
    """Records of a .json (a list) or .jsonl file; image paths are relative to `images`
    (default: the file's folder)."""
    path = Path(path)
    root = Path(images) if images is not None else path.parent
    return [
        _record(raw, f"{path.name}:{where}", root, _split(path), bbox_format)
        for where, raw in _raw_records(path)
    ]


def _raw_records(path: Path) -> Iterator[tuple[int, Any]]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
        if not isinstance(data, list):
            raise RecordError(f"{path}: expected a JSON list of records")
        yield from enumerate(data, 1)
        return
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as error:
                raise RecordError(f"{path}:{number}: not JSON: {error}") from None


def _split(path: Path) -> str | None:
    """ScreenSpot names its splits in the file name: screenspot_mobile.json."""
    return next((s for s in ("mobile", "desktop", "web") if s in path.stem.lower()), None)


def _record(
    raw: Any, where: str, root: Path, split: str | None, fmt: BBoxFormat
) -> GroundingRecord:
    if not isinstance(raw, dict):
        raise RecordError(f"{where}: a record must be an object")
    image = raw.get("img_filename") or raw.get("image")
    bbox = raw.get("bbox")
    instruction = raw.get("instruction") or raw.get("question")  # VLMEvalKit says question
    if not image or not instruction or not isinstance(bbox, list) or len(bbox) != 4:
        raise RecordError(
            f"{where}: needs img_filename (or image), instruction and a 4-number bbox"
        )
    form = raw.get("bbox_format") or fmt
    if form == "auto":  # SeeClick's ScreenSpot layout has data_type; ScreenSpot-Pro ui_type
        form = "xywh" if "data_type" in raw and "ui_type" not in raw else "xyxy"
    x1, y1, a, b = (float(v) for v in bbox)
    x2, y2 = (x1 + a, y1 + b) if form == "xywh" else (a, b)
    if x2 < x1 or y2 < y1:
        raise RecordError(f"{where}: bbox {bbox} is not a box in the {form} format")
    source = raw.get("data_source") or raw.get("source") or raw.get("application")
    platform = raw.get("platform") or split or _SOURCES.get(str(source).lower(), "unknown")
    return GroundingRecord(
        id=str(raw.get("id", where)), image=root / image, instruction=str(instruction),
        bbox=(x1, y1, x2, y2), data_type=str(raw.get("data_type") or raw.get("ui_type") or
                                            "unknown"),
        platform=str(platform), source=None if source is None else str(source),
    )  # fmt: skip


class Prediction(BaseModel):
    record: GroundingRecord
    reply: str
    point: tuple[float, float] | None = None  # image pixels
    hit: bool = False
    error: str | None = None  # why there is no point: an unreadable or off-image answer
    model_size: tuple[int, int] | None = None


def evaluate(
    records: Sequence[GroundingRecord],
    backend: Backend,
    dialect: Dialect,
    *,
    batch_size: int = 8,
    params: GenerationParams | None = None,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
) -> Iterator[Prediction]:
    """Ask in batches; yield each record's prediction, in order."""
    from PIL import Image

    for start in range(0, len(records), batch_size):
        batch = list(records[start : start + batch_size])
        images = []
        for record in batch:
            with Image.open(record.image) as image:
                images.append(image.convert("RGB"))
        if hasattr(backend, "expect"):  # an oracle is told the answers it will give
            backend.expect(batch)
        conversations = [
            dialect.render_grounding(r.instruction, i) for r, i in zip(batch, images, strict=True)
        ]
        completions = backend.generate(conversations, params)
        for record, image, completion in zip(batch, images, completions, strict=True):
            yield score(record, completion, image.size, dialect, min_pixels, max_pixels)


def score(
    record: GroundingRecord,
    completion: Completion,
    image_size: tuple[int, int],
    dialect: Dialect,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
) -> Prediction:
    size = _model_size(completion, image_size, dialect, min_pixels, max_pixels)
    prediction = Prediction(record=record, reply=completion.text, model_size=size)
    try:
        actions = dialect.parse(completion.text)
        point = next(p for a in actions for p in a.points().values())
        where = convert_point(
            point, Space.SCREENSHOT_PX, frame=ScreenFrame(width=image_size[0],
                                                          height=image_size[1]), model_size=size
        )  # fmt: skip
    except StopIteration:
        prediction.error = "the answer has no point"
        return prediction
    except ActionParseError as error:  # includes a point off the image
        prediction.error = str(error)
        return prediction
    x1, y1, x2, y2 = record.bbox
    prediction.point = (where.x, where.y)
    prediction.hit = x1 <= where.x <= x2 and y1 <= where.y <= y2
    return prediction


def _model_size(
    completion: Completion,
    image_size: tuple[int, int],
    dialect: Dialect,
    min_pixels: int | None,
    max_pixels: int | None,
) -> tuple[int, int]:
    """What the model saw: the backend says; otherwise the dialect's resize rules."""
    if completion.image_sizes and completion.image_sizes[-1] != (0, 0):
        return completion.image_sizes[-1]
    return dialect.model_size(image_size, min_pixels=min_pixels, max_pixels=max_pixels)


class GroundingOracle:
    """Answers each record with its true box, in the dialect's exact words: a pipeline
    check, not a model. The words and coordinates come from `oracle_words` (the models'
    documented formats, computed from the box), never from the scorer or the dialect's
    own formatter, so a mistake in either shows up as a miss. Where the grammar's
    resolution cannot say the box's centre inside the box (ShowUI writes two decimals),
    it says the nearest value it can that lies inside; a box smaller than that resolution
    stays a miss, and is reported."""

    model = "grounding oracle (answers with the record's box; not a model)"

    def __init__(
        self, dialect: Dialect, *, min_pixels: int | None = None, max_pixels: int | None = None
    ) -> None:
        self.dialect, self.min_pixels, self.max_pixels = dialect, min_pixels, max_pixels
        self._expected: list[GroundingRecord] = []

    def expect(self, records: Sequence[GroundingRecord]) -> None:
        self._expected = list(records)

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams | None = None
    ) -> list[Completion]:
        batch = as_batch(conversations)
        if len(batch) != len(self._expected):
            raise ValueError("the grounding oracle answers only the records it was told of")
        return [self._answer(record) for record in self._expected]

    def _answer(self, record: GroundingRecord) -> Completion:
        """The reply; like an OpenAI-compatible server it does not say what size the
        model saw, so the scorer applies its own resize rules."""
        from PIL import Image

        from .oracle_words import Grid, grounding_reply

        with Image.open(record.image) as image:
            size = image.size
        name = self.dialect.name
        grid = Grid.of(name, size, min_pixels=self.min_pixels, max_pixels=self.max_pixels)
        text = grounding_reply(name, record.bbox, grid, label=record.instruction)
        return Completion(text=text, usage=Usage(), finish_reason="stop")
