"""The visual tier's search: normalised cross-correlation against a brute-force reference,
and find_crop on pictures whose answer is known by construction (where the patch was
pasted): moved, two alike, recoloured, flat, absent, another device pixel ratio."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pixelpilot.testgen.visual import VisualMatch, VisualMiss, find_crop, ncc_map, scaled


def brute_ncc(image: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Pearson correlation of the template with every window, one window at a time."""
    h, w = template.shape
    out = np.zeros((image.shape[0] - h + 1, image.shape[1] - w + 1))
    for y in range(out.shape[0]):
        for x in range(out.shape[1]):
            window = image[y : y + h, x : x + w]
            if window.std() > 0:
                out[y, x] = np.corrcoef(window.ravel(), template.ravel())[0, 1]
    return out


def patch(seed: int = 0, size: tuple[int, int] = (96, 36)) -> Image.Image:
    """A button-like picture: a coloured block with a few darker 4 px marks on it."""
    rng = np.random.default_rng(seed)
    w, h = size
    data = np.empty((h, w, 3), dtype=np.uint8)
    data[:] = (29, 112, 184)
    for _ in range(14):
        x, y = int(rng.integers(4, w - 8)), int(rng.integers(4, h - 8))
        data[y : y + 4, x : x + 4] = (255, 255, 255)
    return Image.fromarray(data)


def screen(*places: tuple[int, int], picture: Image.Image | None = None,
           size: tuple[int, int] = (800, 600)) -> Image.Image:  # fmt: skip
    image = Image.new("RGB", size, (255, 255, 255))
    for place in places:
        image.paste(picture or patch(), place)
    return image


def test_ncc_map_matches_a_brute_force_reference() -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (30, 41)).astype(np.float64)
    image[5:12, 20:30] = 7.0  # a flat stretch: windows inside it score 0
    template = image[14:21, 8:17].copy()
    got, want = ncc_map(image, template), brute_ncc(image, template)
    assert got.shape == want.shape == (24, 33)
    assert np.allclose(got, want, atol=1e-9)
    assert np.unravel_index(np.argmax(got), got.shape) == (14, 8)
    assert got[14, 8] == pytest.approx(1.0)


def test_a_moved_target_is_found_where_it_is_now() -> None:
    crop = screen((300, 200)).crop((300, 200, 396, 236))
    found = find_crop(screen((420, 330)), crop)
    assert isinstance(found, VisualMatch), found
    assert found.region == (420, 330, 516, 366)
    assert found.centre == (468.0, 348.0)
    assert found.score == pytest.approx(1.0)
    assert found.difference == 0.0


def test_two_places_alike_are_a_miss() -> None:
    crop = patch()
    found = find_crop(screen((100, 100), (500, 400)), crop)
    assert isinstance(found, VisualMiss)
    assert found.reason.startswith("ambiguous: two places alike")


def test_a_recoloured_target_is_a_miss() -> None:
    green = Image.fromarray(np.asarray(patch())[:, :, [1, 0, 2]])  # red and green swapped
    found = find_crop(screen((420, 330), picture=green), patch())
    assert isinstance(found, VisualMiss)
    assert "the target changed" in found.reason or "best place scores" in found.reason


def test_an_absent_target_is_a_miss() -> None:
    found = find_crop(screen((420, 330), picture=patch(seed=9)), patch(seed=1))
    assert isinstance(found, VisualMiss)
    assert "best place scores" in found.reason or "the target changed" in found.reason


def test_a_flat_crop_has_nothing_to_be_found_by() -> None:
    flat = Image.new("RGB", (60, 20), (240, 240, 240))
    found = find_crop(screen((10, 10)), flat)
    assert isinstance(found, VisualMiss) and "flat patch" in found.reason


def test_a_crop_bigger_than_the_screen_is_a_miss() -> None:
    found = find_crop(screen(size=(50, 30)), patch())
    assert isinstance(found, VisualMiss) and "larger than the screen" in found.reason


def test_a_crop_recorded_at_dpr_1_is_found_at_dpr_2() -> None:
    crop = patch()  # recorded at DPR 1
    big = Image.fromarray(np.kron(np.asarray(crop), np.ones((2, 2, 1), dtype=np.uint8)))
    now = screen((640, 380), picture=big, size=(1600, 1200))  # the page now at DPR 2
    found = find_crop(now, crop, ratio=2.0)
    assert isinstance(found, VisualMatch), found
    assert found.region == (640, 380, 832, 452)
    assert scaled(crop, 1.0) is crop
    assert scaled(crop, 2.0).size == (192, 72)
    # a scaled search is still strict about two places alike
    twice = screen((100, 100), (900, 700), picture=big, size=(1600, 1200))
    assert isinstance(find_crop(twice, crop, ratio=2.0), VisualMiss)
