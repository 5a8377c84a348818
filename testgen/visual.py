"""The visual tier: a step's recorded crop found again anywhere on the current screenshot.

Why a search and not a check where the crop stood: a target that moved (a banner pushed
the form down, the page was restyled into two columns, the viewport changed) is the same
target, and a locator broken by a renamed id is most often on such a page. Why strict: a
heal that clicks a look-alike hides a regression. So the crop must be found by normalised
cross-correlation (grayscale, whole screenshot, Lewis' fast method: FFT for the products,
summed-area tables for the window energies) with a score of at least `min_score`; no
second place, outside the first match's own neighbourhood, may come within `margin` of it
(two places alike is a miss, not a coin toss); and the found place must then pass the
locate cache's own colour check (`crop_difference`), so a recoloured or reworded target
is a miss here and goes to the model tier.

A crop recorded at another device pixel ratio is scaled by current / recorded DPR first.
Text is rasterised afresh at each ratio, so a scaled crop never matches pixel for pixel
(measured on the demo sign-up button, 1x crop against a real 2x page: 0.82 where the same
ratio scores 1.00): both sides are then blurred a little, the score needed is lower
(`SCALED_MIN_SCORE`) and the runner-up must stay much further below (`SCALED_MARGIN`);
the colour check is unchanged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pixelpilot.agent.locate_cache import crop_difference

log = logging.getLogger("pixelpilot.testgen.visual")

MIN_SCORE = 0.92  # normalised cross-correlation of the best place
MARGIN = 0.08  # the runner-up must stay this far below the best
TOLERANCE = 8.0  # the locate cache's mean level difference (of 255)
MIN_STD = 2.0  # a crop flatter than this (levels) has nothing to be found by
SCALED_MIN_SCORE = 0.8  # ... for a crop recorded at another device pixel ratio
SCALED_MARGIN = 0.25
SCALED_BLUR = 0.75  # Gaussian radius per unit of scale, for a scaled search


@dataclass(frozen=True)
class VisualMatch:
    """Where the crop was found (screenshot pixels), how well, and how the runner-up did."""

    region: tuple[int, int, int, int]
    score: float
    runner_up: float
    difference: float

    @property
    def centre(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.region
        return (x0 + x1) / 2, (y0 + y1) / 2


@dataclass(frozen=True)
class VisualMiss:
    """Why the crop was not found (for the failure message and the log)."""

    reason: str


def ncc_map(image: Any, template: Any) -> Any:
    """Normalised cross-correlation of `template` at every place it fits in `image` (both
    2-D float arrays): out[y, x] for the window whose top-left corner is (x, y). Flat
    windows (no variance) score 0."""
    import numpy as np

    big_h, big_w = image.shape
    h, w = template.shape
    t = template - template.mean()
    t_norm = float(np.sqrt((t * t).sum()))
    spectrum = np.fft.rfft2(image, s=(big_h, big_w)) * np.conj(np.fft.rfft2(t, s=(big_h, big_w)))
    products = np.fft.irfft2(spectrum, s=(big_h, big_w))[: big_h - h + 1, : big_w - w + 1]
    s1 = _window_sums(image, h, w)
    s2 = _window_sums(image * image, h, w)
    energy = np.maximum(s2 - s1 * s1 / (h * w), 0.0)
    denominator = np.sqrt(energy) * t_norm
    out = np.zeros_like(products)
    ok = denominator > 1e-6 * max(1.0, t_norm)
    out[ok] = products[ok] / denominator[ok]
    return out


def _window_sums(values: Any, h: int, w: int) -> Any:
    """Sum of every h x w window (summed-area table)."""
    import numpy as np

    table = np.zeros((values.shape[0] + 1, values.shape[1] + 1))
    table[1:, 1:] = values.cumsum(0).cumsum(1)
    return table[h:, w:] - table[:-h, w:] - table[h:, :-w] + table[:-h, :-w]


def scaled(crop: Any, ratio: float) -> Any:
    """The recorded crop at the current device pixel ratio (`ratio` = now / then)."""
    from PIL import Image

    if abs(ratio - 1.0) < 1e-6:
        return crop
    size = (max(1, round(crop.width * ratio)), max(1, round(crop.height * ratio)))
    return crop.resize(size, Image.Resampling.LANCZOS)


def find_crop(
    screenshot: Any,
    crop: Any,
    *,
    ratio: float = 1.0,
    min_score: float | None = None,
    margin: float | None = None,
    tolerance: float = TOLERANCE,
) -> VisualMatch | VisualMiss:
    """The one place `crop` (a PIL image recorded at 1/`ratio` of the screenshot's device
    pixel ratio) is on `screenshot`, or why there is none: too flat, too weak, ambiguous,
    or changed."""
    import numpy as np
    from PIL import ImageFilter

    rescaled = abs(ratio - 1.0) > 1e-6
    crop = scaled(crop, ratio)
    if min_score is None:
        min_score = SCALED_MIN_SCORE if rescaled else MIN_SCORE
    if margin is None:
        margin = SCALED_MARGIN if rescaled else MARGIN
    if crop.width > screenshot.width or crop.height > screenshot.height:
        return VisualMiss("the recorded crop is larger than the screen")
    gray_image, gray_crop = screenshot.convert("L"), crop.convert("L")
    if rescaled:
        blur = ImageFilter.GaussianBlur(SCALED_BLUR * max(ratio, 1 / ratio))
        gray_image, gray_crop = gray_image.filter(blur), gray_crop.filter(blur)
    gray = np.asarray(gray_image, dtype=np.float64)
    template = np.asarray(gray_crop, dtype=np.float64)
    if template.std() < MIN_STD:
        return VisualMiss("the recorded crop is a flat patch with nothing to find it by")
    scores = ncc_map(gray, template)
    y, x = np.unravel_index(int(np.argmax(scores)), scores.shape)
    best = float(scores[y, x])
    h, w = template.shape
    others = scores.copy()
    others[max(0, y - h // 2) : y + h // 2 + 1, max(0, x - w // 2) : x + w // 2 + 1] = -1.0
    runner_up = float(others.max()) if others.size else -1.0
    if best < min_score:
        return VisualMiss(f"the best place scores {best:.3f} (needs {min_score:.2f})")
    if runner_up > best - margin:
        return VisualMiss(f"ambiguous: two places alike ({best:.3f} and {runner_up:.3f})")
    region = (int(x), int(y), int(x) + w, int(y) + h)
    difference = crop_difference(crop, screenshot, region)
    if difference is None or difference > tolerance:
        return VisualMiss(
            f"the place found ({best:.3f}) differs from the crop by {difference} levels "
            f"(tolerance {tolerance:g}): the target changed"
        )
    return VisualMatch(region, best, runner_up, difference)
