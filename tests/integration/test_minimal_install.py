"""Images work on a minimal install: CPU-only torch without torchvision, where
transformers offers only the Pillow image processor and no video processor.

`make setup` builds that install in `.venv-minimal` (torch 2.13.0 CPU + pixelpilot[local]);
the test runs the backend there in a subprocess and compares with this process. Without
it the test is skipped on a developer's machine, but fails in CI (CI=true): a check that
quietly never runs there is no check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = Path(
    os.environ.get("PIXELPILOT_MINIMAL_PYTHON", ROOT / ".venv-minimal" / "bin" / "python")
)

SCRIPT = """
import sys, numpy as np, torch
from PIL import Image
from pixelpilot.vlm import GenerationParams, load_backend
try:
    import torchvision  # noqa: F401
    sys.exit("torchvision is importable: this is not a minimal install")
except ImportError:
    pass
backend = load_backend("transformers", model=sys.argv[1], device="cpu")
rng = np.random.default_rng(0)
image = Image.fromarray(rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8))
conversation = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": "Where?"}]}]
inputs = backend.prepare_inputs([conversation])
torch.save({k: inputs[k] for k in ("input_ids", "image_grid_thw", "pixel_values")}, sys.argv[2])
(completion,) = backend.generate(conversation, GenerationParams(max_new_tokens=3))
print(type(backend.processor.image_processor).__name__, completion.image_sizes, completion.usage.visual_tokens)
"""


def minimal_python(path: Path = MINIMAL) -> Path:
    """The minimal install's interpreter; skips where there is none, except in CI."""
    if path.exists():
        return path
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI must build the minimal install at {path} (`make setup`)")
    pytest.skip(f"no minimal install at {path}: `make setup` builds it")


def test_backend_without_torchvision_matches_the_full_install(
    qwen2vl_backend, tiny_qwen2vl, tmp_path
) -> None:
    python = minimal_python()
    out = tmp_path / "inputs.pt"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    run = subprocess.run([str(python), "-c", SCRIPT, str(tiny_qwen2vl), str(out)], capture_output=True,
                         text=True, timeout=600, env=env, cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split()[:1] == ["Qwen2VLImageProcessorPil"]
    assert "((1932, 1092),) 2691" in run.stdout

    rng = np.random.default_rng(0)
    from PIL import Image

    image = Image.fromarray(rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8))
    conversation = [
        {
            "role": "user",
            "content": [{"type": "image", "image": image}, {"type": "text", "text": "Where?"}],
        }
    ]
    full = qwen2vl_backend.prepare_inputs([conversation])
    minimal = torch.load(out)
    assert torch.equal(minimal["input_ids"], full["input_ids"])
    assert torch.equal(minimal["image_grid_thw"], full["image_grid_thw"])
    difference = (minimal["pixel_values"] - full["pixel_values"]).abs().max().item()
    print(f"max |pixel_values| difference, Pillow vs torchvision processor: {difference:.3g}")
    assert difference < 1e-5  # float rounding only: both get the same pre-resized pixels


def test_a_missing_minimal_install_fails_in_ci_and_skips_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "no-venv" / "bin" / "python"
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must build the minimal install"):
        minimal_python(missing)
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="make setup"):
        minimal_python(missing)
    assert minimal_python(Path(sys.executable)) == Path(sys.executable)


def test_this_checkout_has_the_minimal_install() -> None:
    """`make setup` built it here, so the comparison above really runs (and it must have
    torch but not torchvision, or it would not test the image-only path)."""
    python = minimal_python()
    probe = "import importlib.util as u; print(bool(u.find_spec('torch')), bool(u.find_spec('torchvision')))"
    run = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=120)
    assert run.stdout.split() == ["True", "False"], run.stderr[-2000:]
