"""The grounding evaluator: ScreenSpot-family records, scoring hand-made answers in
every dialect, the oracle's ceiling, the report and the command line."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from PIL import Image

from pixelpilot.cli import main
from pixelpilot.evaluation.grounding import (
    GroundingOracle,
    GroundingRecord,
    RecordError,
    evaluate,
    load_records,
    score,
)
from pixelpilot.evaluation.grounding_report import accuracy_table, write_grounding_report
from pixelpilot.vlm import DIALECTS, Completion, get_dialect


def _image(folder: Path, name: str, size: tuple[int, int]) -> Path:
    path = folder / name
    Image.new("RGB", size, "white").save(path)
    return path


def _record(image: Path, bbox: tuple[float, float, float, float], **extra: str) -> GroundingRecord:
    return GroundingRecord(id=extra.pop("id", "r"), image=image, instruction="the Save button",
                           bbox=bbox, **extra)  # fmt: skip


# -- reading the ScreenSpot family -------------------------------------------------------
def test_screenspot_v1_records_are_xywh_and_named_by_split(tmp_path: Path) -> None:
    # as VLMEvalKit ships them: "question" for the instruction
    raw = [{"img_filename": "a.png", "bbox": [10, 20, 30, 40], "question": "close",
            "data_type": "icon", "data_source": "ios"}]  # fmt: skip
    (tmp_path / "screenspot_mobile.json").write_text(json.dumps(raw))
    (record,) = load_records(tmp_path / "screenspot_mobile.json")
    assert record.bbox == (10, 20, 40, 60) and record.platform == "mobile"
    assert record.data_type == "icon" and record.image == tmp_path / "a.png"
    assert record.instruction == "close"


def test_screenspot_pro_records_are_xyxy_with_ui_type(tmp_path: Path) -> None:
    line = {"img_filename": "p.png", "bbox": [10, 20, 30, 40], "instruction": "open",
            "ui_type": "text", "platform": "windows", "application": "excel", "id": "x1"}  # fmt: skip
    (tmp_path / "pro.jsonl").write_text(json.dumps(line) + "\n\n")
    (record,) = load_records(tmp_path / "pro.jsonl", images=tmp_path / "imgs")
    assert record.bbox == (10, 20, 30, 40) and record.platform == "windows"
    assert (record.id, record.data_type, record.source) == ("x1", "text", "excel")
    assert record.image == tmp_path / "imgs" / "p.png"


def test_a_record_may_say_its_box_format_and_the_option_decides_otherwise(tmp_path: Path) -> None:
    lines = [{"image": "a.png", "bbox": [1, 2, 3, 4], "instruction": "x", "data_type": "text",
              "bbox_format": "xyxy"},
             {"image": "a.png", "bbox": [1, 2, 3, 4], "instruction": "y"}]  # fmt: skip
    (tmp_path / "set.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    first, second = load_records(tmp_path / "set.jsonl", bbox_format="xywh")
    assert first.bbox == (1, 2, 3, 4) and second.bbox == (1, 2, 4, 6)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"image": "a.png", "bbox": [1, 2, 3, 4]}', "needs img_filename"),
        ('{"image": "a.png", "bbox": [5, 5, 1, 1], "instruction": "x", "bbox_format": "xyxy"}',
         "is not a box"),
        ("{not json", "set.jsonl:1: not JSON"),
    ],
)  # fmt: skip
def test_bad_records_are_named_with_their_line(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "set.jsonl").write_text(text + "\n")
    with pytest.raises(RecordError, match=message):
        load_records(tmp_path / "set.jsonl")


# -- scoring hand-made answers ----------------------------------------------------------
# image 1000x600; box x 100..200, y 300..350 in image pixels
HAND_MADE = {
    "qwen2vl": ("<|box_start|>(150,541),(170,550)<|box_end|>",  # centre (160, 327)
                "<|box_start|>(300,100),(320,110)<|box_end|>"),
    "qwen25vl": ('```json\n[{"bbox_2d": [140, 310, 160, 330], "label": "Save"}]\n```',
                 '{"point_2d": [500, 100]}'),
    "uitars": ("click(start_box='(100,500)')", "click(start_box='(900,900)')"),
    "uitars15": ("click(point='<point>200 350</point>')",  # on the corner: edges count
                 "click(point='<point>201 350</point>')"),
    "showui": ("[0.15, 0.55]", "[0.5, 0.5]"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(HAND_MADE))
def test_a_point_inside_the_box_counts_and_one_outside_does_not(name: str, tmp_path: Path) -> None:
    dialect = get_dialect(name)
    record = _record(_image(tmp_path, "a.png", (1000, 600)), (100, 300, 200, 350))
    # a model seeing the image at its own size: resized_px equals image pixels here
    inside, outside = (Completion(text=t, image_sizes=((1000, 600),)) for t in HAND_MADE[name])
    hit = score(record, inside, (1000, 600), dialect)
    miss = score(record, outside, (1000, 600), dialect)
    assert hit.hit and hit.error is None, hit
    assert not miss.hit and miss.point is not None and miss.error is None


def test_resized_pixels_are_mapped_back_with_the_size_the_model_saw(tmp_path: Path) -> None:
    record = _record(_image(tmp_path, "a.png", (1000, 600)), (100, 300, 200, 350))
    seen_at_half = Completion(text='{"point_2d": [75, 160]}', image_sizes=((500, 300),))
    prediction = score(record, seen_at_half, (1000, 600), get_dialect("qwen25vl"))
    assert prediction.point == (150.0, 320.0) and prediction.hit


def test_unreadable_and_off_image_answers_are_misses_with_a_reason(tmp_path: Path) -> None:
    record = _record(_image(tmp_path, "a.png", (1000, 600)), (100, 300, 200, 350))
    dialect = get_dialect("uitars")
    unreadable = score(record, Completion(text="I cannot see it."), (1000, 600), dialect)
    off = score(record, Completion(text="click(start_box='(500,1200)')"), (1000, 600), dialect)
    assert not unreadable.hit and "No action found" in unreadable.error
    assert not off.hit and off.point is None and "outside" in off.error.lower()


def test_accuracy_is_tallied_by_platform_and_type(tmp_path: Path) -> None:
    image = _image(tmp_path, "a.png", (100, 100))
    records = [_record(image, (0, 0, 50, 50), platform=p, data_type=t, id=str(i))
               for i, (p, t) in enumerate([("web", "text"), ("web", "icon"), ("mobile", "text")])]  # fmt: skip
    answers = ["click(start_box='(250,250)')", "click(start_box='(900,900)')",
               "click(start_box='(100,100)')"]  # fmt: skip
    predictions = [score(r, Completion(text=a), (100, 100), get_dialect("uitars"))
                   for r, a in zip(records, answers, strict=True)]  # fmt: skip
    table = accuracy_table(predictions)
    assert table["web"]["text"] == {"n": 1, "hits": 1, "accuracy": 1.0}
    assert table["web"]["all"]["accuracy"] == 0.5 and table["all"]["text"]["accuracy"] == 1.0
    assert table["all"]["all"] == {"n": 3, "hits": 2, "accuracy": pytest.approx(2 / 3)}


# -- the oracle: the pipeline's ceiling ---------------------------------------------------
@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_the_oracle_hits_every_box_its_grammar_can_name(name: str, tmp_path: Path) -> None:
    dialect, rng = get_dialect(name), random.Random(7)
    sizes = [(1920, 1080), (780, 1688), (2560, 1600), (333, 217)]
    records = []
    for i in range(80):
        width, height = sizes[i % len(sizes)]
        image = tmp_path / f"{width}x{height}.png"
        if not image.exists():
            _image(tmp_path, image.name, (width, height))
        # the grammar's grid, in image pixels: two decimals of the side for ShowUI
        side = max(8.0, 1.1 * dialect.quantum * max(width, height)) if name == "showui" else 8.0
        w, h = rng.uniform(side, 200), rng.uniform(side, 120)
        x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
        records.append(_record(image, (x, y, x + w, y + h), id=str(i)))
    predictions = list(evaluate(records, GroundingOracle(dialect), dialect, batch_size=7))
    assert [p.record.id for p in predictions] == [r.id for r in records]
    assert [p.record.id for p in predictions if not p.hit] == []


def test_a_box_finer_than_showui_can_say_is_a_reported_miss(tmp_path: Path) -> None:
    dialect = get_dialect("showui")
    image = _image(tmp_path, "wide.png", (2560, 1600))
    tiny = _record(image, (1003.0, 801.0, 1006.0, 804.0))  # 3 px; ShowUI's grid is 25.6 px
    (prediction,) = evaluate([tiny], GroundingOracle(dialect), dialect)
    assert not prediction.hit and prediction.point is not None
    data = write_grounding_report(tmp_path / "out", [prediction], dataset="tiny", dialect="showui",
                                  backend="oracle", oracle=True, wall_s=0.1)  # fmt: skip
    assert data["accuracy"] == 0.0 and data["misses"][0]["bbox"] == (1003.0, 801.0, 1006.0, 804.0)
    report = (tmp_path / "out" / "report.md").read_text()
    assert "PIPELINE CHECK" in report and "outside the box" in report


# -- the command line ---------------------------------------------------------------------
def test_eval_grounding_with_the_oracle_from_the_command_line(tmp_path: Path, capsys) -> None:
    _image(tmp_path, "shot.png", (1280, 800))
    lines = [{"img_filename": "shot.png", "bbox": [100, 100, 260, 140], "instruction": "Save",
              "data_type": "text", "platform": "web", "bbox_format": "xyxy"},
             {"img_filename": "shot.png", "bbox": [600, 400, 32, 32], "instruction": "close",
              "data_type": "icon", "platform": "web"}]  # fmt: skip
    (tmp_path / "set.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    out = tmp_path / "out"
    argv = ["eval", "grounding", str(tmp_path / "set.jsonl"), "--backend", "oracle",
            "--dialect", "qwen2vl", "--out", str(out), "--fail-under", "1.0"]  # fmt: skip
    assert main(argv) == 0
    assert "pipeline ceiling (oracle): 100.0% of 2 records" in capsys.readouterr().out
    saved = json.loads((out / "results.json").read_text())
    assert saved["by_platform_and_type"]["web"]["icon"]["hits"] == 1
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 2


def test_eval_grounding_says_which_images_are_missing(tmp_path: Path, capsys) -> None:
    line = {"img_filename": "gone.png", "bbox": [1, 1, 2, 2], "instruction": "x"}
    (tmp_path / "set.jsonl").write_text(json.dumps(line))
    argv = ["eval", "grounding", str(tmp_path / "set.jsonl"), "--backend", "oracle",
            "--dialect", "uitars", "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(argv) == 2
    assert "1 images are missing, e.g." in capsys.readouterr().err
