"""What zoom-in grounding buys, on GOV.UK component pages rendered at 2560x1440 and
3840x2160. Prints tables; asserts nothing.

    .venv/bin/python bench/zoom.py [--govuk .cache/govuk-frontend-6.6.0.tgz] [--limit 8]

The screens and targets come from `build_grounding_set` (GOV.UK Frontend's component
fixtures from npm, boxes and descriptions from the DOM). Every answer goes through
`Pilot`'s grounder (`agent/locate.py`): the dialect's parser, the coordinate chain, the
crop, the mapping back. The model is told to see at most 1,003,520 pixels (transformers'
default `max_pixels`; the released checkpoints allow 12.8M, under which a 4K screen is
not shrunk and `auto` does not zoom).

1. Pipeline ceiling: an ORACLE (not a model) answers every request with the true box,
   in each dialect's own format (hand-written, tests/integration/pilot_fixtures.py), on
   the full screenshot and on the crop (found by its pixels), with zoom forced on.
2. A SIMULATED grounder (not a model): its answer is the true centre plus Gaussian noise
   of sigma pixels *of the image it is shown* (the model image), written in UI-TARS 1.5's
   resized-pixel format. Without zoom one model pixel is 2-3 screen pixels; on the crop
   about one. Accuracy = the final point inside the target's box.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from PIL import Image

from pixelpilot.agent.locate import Grounder
from pixelpilot.agent.pilot_types import NotFound
from pixelpilot.evaluation.grounding import load_records
from pixelpilot.evaluation.grounding_set import build_grounding_set
from pixelpilot.vlm import Completion, get_dialect
from pixelpilot.vlm.backend import Usage
from tests.integration.pilot_fixtures import DIALECTS, LIMITS, find_crop, reference_size, say

MAX = 1003520
SIZES = [(2560, 1440), (3840, 2160)]
SIGMAS = [2, 4, 8, 16]
COMPONENTS = ["accordion", "back-link", "breadcrumbs", "button", "checkboxes", "date-input",
              "footer", "header", "pagination", "radios", "summary-list", "tabs", "table",
              "task-list", "service-navigation", "cookie-banner"]  # fmt: skip


class Simulated:
    """The backend: answers for `self.box` (screenshot px) on `self.full` or a crop of it."""

    model = "simulation (not a model)"

    def __init__(self, dialect: str, sigma: float | None, seed: int = 0) -> None:
        self.dialect, self.sigma, self.rng = dialect, sigma, random.Random(seed)
        self.min_pixels = LIMITS[dialect][0]
        self.box: tuple[float, float, float, float] = (0, 0, 0, 0)
        self.full: np.ndarray | None = None

    def generate(self, conversations, params=None):
        return [self._answer(c) for c in conversations]

    def _answer(self, conversation) -> Completion:
        image = next(p["image"] for m in conversation for p in m["content"] if p["type"] == "image")
        pixels = np.asarray(image.convert("RGB"))
        x, y = (0, 0) if pixels.shape == self.full.shape else find_crop(self.full, pixels)
        box = (self.box[0] - x, self.box[1] - y, self.box[2] - x, self.box[3] - y)
        model = reference_size(image.width, image.height, self.min_pixels, MAX)
        if self.sigma is None:
            text = say(self.dialect, box, image.size, model, "target")
        else:  # the centre in model pixels, plus noise of sigma model pixels
            cx = (box[0] + box[2]) / 2 * model[0] / image.width + self.rng.gauss(0, self.sigma)
            cy = (box[1] + box[3]) / 2 * model[1] / image.height + self.rng.gauss(0, self.sigma)
            text = f"Action: click(point='<point>{round(cx)} {round(cy)}</point>')"
        return Completion(text=text, image_sizes=(model,), usage=Usage(), finish_reason="stop")


def hit_rate(records, images, dialect: str, sigma: float | None, zoom) -> tuple[int, int, int]:
    backend = Simulated(dialect, sigma)
    grounder = Grounder(backend, get_dialect(dialect), min_pixels=LIMITS[dialect][0],
                        max_pixels=MAX)  # fmt: skip
    hits = zoomed = 0
    for record in records:
        image = images[record.image]
        backend.full, backend.box = np.asarray(image), record.bbox
        try:
            found = grounder.ground(record.instruction, image, zoom=zoom)
        except NotFound:
            continue
        x1, y1, x2, y2 = record.bbox
        hits += x1 <= found.point.x <= x2 and y1 <= found.point.y <= y2
        zoomed += found.how == "zoom"
    return hits, len(records), zoomed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--govuk", default=".cache/govuk-frontend-6.6.0.tgz")
    parser.add_argument("--limit", type=int, default=8, help="targets per screen")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        summary = build_grounding_set(folder, govuk=args.govuk, miniwob=False, viewports=SIZES,
                                      dprs=[1.0], components=COMPONENTS,
                                      limit_per_page=args.limit, max_screens=1)  # fmt: skip
        records = load_records(Path(folder) / "grounding.jsonl")
        images = {r.image: Image.open(r.image).convert("RGB") for r in records}
        by_size = defaultdict(list)
        for record in records:
            by_size[images[record.image].size].append(record)
        print(f"{summary.records} targets on {summary.images} GOV.UK screens "
              f"({', '.join(f'{w}x{h}: {len(by_size[(w, h)])}' for w, h in SIZES)}); "
              f"model max_pixels {MAX:,}\n")  # fmt: skip
        print("1. Pipeline ceiling, ORACLE grounder (not a model), zoom forced on:")
        print(f"{'dialect':<10}" + "".join(f"{f'{w}x{h}':>16}" for w, h in SIZES))
        for dialect in DIALECTS:
            cells = []
            for size in SIZES:
                hits, total, _ = hit_rate(by_size[size], images, dialect, None, True)
                cells.append(f"{hits}/{total} {hits / max(total, 1):.0%}")
            print(f"{dialect:<10}" + "".join(f"{c:>16}" for c in cells))
        print("\n2. SIMULATED grounder (not a model; Gaussian error of sigma model-image "
              "pixels), uitars15 format; accuracy without zoom -> with zoom='auto' "
              "(zoomed share):")  # fmt: skip
        print(f"{'sigma':<8}" + "".join(f"{f'{w}x{h}':>28}" for w, h in SIZES))
        for sigma in SIGMAS:
            cells = []
            for size in SIZES:
                off, total, _ = hit_rate(by_size[size], images, "uitars15", sigma, False)
                on, _, zoomed = hit_rate(by_size[size], images, "uitars15", sigma, "auto")
                cells.append(f"{off / total:.1%} -> {on / total:.1%} ({zoomed / total:.0%})")
            print(f"{sigma:<8}" + "".join(f"{c:>28}" for c in cells))


if __name__ == "__main__":
    main()
