"""Grounding results as the ScreenSpot papers print them: accuracy per platform and per
element type (text / icon), the average, and every miss with the answer that missed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .grounding import Prediction
from .report import PIPELINE_CHECK, Cell, Section, percent, write_reports


def accuracy_table(predictions: list[Prediction]) -> dict[str, Any]:
    """{platform: {data_type: {"n", "hits", "accuracy"}}}, plus "all" rows and columns."""
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for p in predictions:
        for platform in (p.record.platform, "all"):
            for kind in (p.record.data_type, "all"):
                cell = table.setdefault(platform, {}).setdefault(kind, {"n": 0, "hits": 0})
                cell["n"] += 1
                cell["hits"] += p.hit
    for row in table.values():
        for cell in row.values():
            cell["accuracy"] = cell["hits"] / cell["n"] if cell["n"] else None
    return table


class PredictionLog:
    """predictions.jsonl, one line per answer as it comes: a stopped run keeps them."""

    def __init__(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self._file = (out_dir / "predictions.jsonl").open("w", encoding="utf-8")

    def write(self, prediction: Prediction) -> None:
        self._file.write(json.dumps(prediction.model_dump(mode="json"), ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def write_grounding_report(
    out_dir: Path,
    predictions: list[Prediction],
    *,
    dataset: str,
    dialect: str,
    backend: str,
    oracle: bool,
    wall_s: float,
) -> dict[str, Any]:
    table = accuracy_table(predictions)
    data = {
        "benchmark": "grounding",
        "kind": "pipeline check (oracle)" if oracle else "model evaluation",
        "dataset": dataset, "dialect": dialect, "backend": backend,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "wall_s": wall_s,
        "records": len(predictions),
        "accuracy": table.get("all", {}).get("all", {}).get("accuracy"),
        "by_platform_and_type": table,
        "misses": [_miss(p) for p in predictions if not p.hit],
    }  # fmt: skip
    sections = [Section("What was measured", PIPELINE_CHECK)] if oracle else []
    setup = (
        f"Data: {dataset} ({len(predictions)} records). Dialect {dialect}; backend {backend}; "
        f"{wall_s:.1f} s. A prediction counts when its point lies inside the box."
    )
    sections += [Section("Setup", setup), _table_section(table), _misses(out_dir, predictions)]
    write_reports(out_dir, "Grounding evaluation", data, sections)
    return data


def _miss(p: Prediction) -> dict[str, Any]:
    record = p.record
    return {"id": record.id, "image": str(record.image), "instruction": record.instruction,
            "bbox": record.bbox, "point": p.point, "error": p.error, "reply": p.reply}  # fmt: skip


def _table_section(table: dict[str, Any]) -> Section:
    kinds = [*sorted({k for row in table.values() for k in row} - {"all"}), "all"]
    rows: list[list[Cell | str]] = []
    for platform in [*sorted(set(table) - {"all"}), "all"]:
        row = table[platform]
        rows.append([platform, *(_cell(row.get(kind)) for kind in kinds)])
    return Section("Accuracy", headers=["platform", *kinds], rows=rows)


def _cell(cell: dict[str, Any] | None) -> str:
    return "-" if not cell else f"{percent(cell['accuracy'])} ({cell['hits']}/{cell['n']})"


def _misses(out_dir: Path, predictions: Iterable[Prediction]) -> Section:
    rows: list[list[Cell | str]] = []
    for p in predictions:
        if p.hit:
            continue
        image = _relative(p.record.image, out_dir)
        point = "-" if p.point is None else f"({p.point[0]:.1f}, {p.point[1]:.1f})"
        box = ", ".join(f"{v:.1f}" for v in p.record.bbox)
        rows.append([Cell(p.record.id, image), p.record.instruction, f"[{box}]", point,
                     p.error or "outside the box", p.reply[:200]])  # fmt: skip
    headers = ["record", "instruction", "box (x1, y1, x2, y2)", "point", "why", "reply"]
    text = "" if rows else "None."
    return Section("Misses", text, headers if rows else [], rows)


def _relative(path: Path, out_dir: Path) -> str:
    try:
        return Path(path).resolve().relative_to(out_dir.resolve()).as_posix()
    except ValueError:
        return Path(path).resolve().as_uri()
