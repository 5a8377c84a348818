"""`pixelpilot testgen` as a user runs it: what it prints and its exit codes (run's EXIT)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.unit.testgen.test_generate import make_run

EXE = str(Path(sys.executable).parent / "pixelpilot")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, "testgen", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd)  # fmt: skip


def test_writes_the_test_and_says_how_to_run_it(tmp_path) -> None:
    done = run(str(make_run(tmp_path / "run")), "--secret", "code=PROMO_CODE", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    test = tmp_path / "test_buy_the_cheapest_pixel_with.py"  # the default name, here
    assert 'os.environ["PROMO_CODE"]' in test.read_text()
    assert done.stdout.splitlines() == [
        f"wrote {test.name} (test_buy_the_cheapest_pixel_with: 16 steps, 3 assertions; crops "
        "in __pixelpilot__/test_buy_the_cheapest_pixel_with)",
        f"run it: pytest {test.name} with $PROMO_CODE set [--base-url URL] "
        "[--pixelpilot-heal off|on|rewrite]",
    ]
    assert done.stderr == ""


def test_a_run_that_cannot_become_a_test_is_exit_2_in_one_line(tmp_path) -> None:
    cases = {
        "failed": make_run(tmp_path / "failed", status="failure"),
        "unfinished": make_run(tmp_path / "unfinished", end=False),
        "missing": tmp_path / "nowhere",
    }
    for name, path in cases.items():
        done = run(str(path), "-o", str(tmp_path / "out" / "test_x.py"))
        assert done.returncode == 2, (name, done.stderr)
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("pixelpilot testgen: ")
        assert "Traceback" not in done.stderr and done.stdout == ""
    assert not (tmp_path / "out" / "test_x.py").exists()


def test_bad_options_are_usage_errors(tmp_path) -> None:
    done = run(str(make_run(tmp_path / "run")), "--secret", "no-equals-sign")
    assert done.returncode == 2
    assert "argument --secret: 'no-equals-sign' is not NAME=ENV_VAR" in done.stderr


def test_an_output_that_cannot_be_written_is_exit_6(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    done = run(str(make_run(tmp_path / "run")), "-o", str(blocker / "test_x.py"))
    assert done.returncode == 6, done.stderr
    assert done.stderr.startswith("pixelpilot testgen: cannot write ")
    assert done.stderr.count("\n") == 1
