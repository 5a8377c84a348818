"""The survival bench's harness end to end on one flow: the demo signup is recorded with
the oracle in real headless Chromium, `pixelpilot testgen` writes its test, and pytest
runs it in a subprocess per configuration against the unchanged page, one change that
keeps the signup working and one regression. The expected outcomes follow from what each
configuration can do, not from the bench:

- unchanged page: every configuration passes (else the harness, not healing, is broken);
- target below the fold (1600 px of padding above the button): the recorded point now
  holds padding, so the coordinates replay cannot submit; the locator scrolls to it;
- target removed: nothing can submit, every configuration fails (a pass is a false pass).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import testgen_survival


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict, str]:
    work = tmp_path_factory.mktemp("survival")
    code = testgen_survival.main([
        "--flows", "demo-signup", "--changes", "below_fold,target_removed",
        "--configs", "coordinates,locators", "--work", str(work),
    ])  # fmt: skip
    results = json.loads((work / "results.json").read_text())
    return code, results, (work / "table.md").read_text()


def test_unchanged_passes_in_every_configuration(bench) -> None:
    _, results, _ = bench
    for config in ("coordinates", "locators"):
        cell = results[config]["demo-signup|unchanged"]
        assert cell["passed"], (config, cell["message"])


def test_below_the_fold_breaks_coordinates_not_locators(bench) -> None:
    _, results, _ = bench
    assert not results["coordinates"]["demo-signup|below_fold"]["passed"]
    cell = results["locators"]["demo-signup|below_fold"]
    assert cell["passed"], cell["message"]
    assert cell["healed"] == []  # heal off: the locator found it, nothing was healed


def test_a_removed_target_fails_everywhere_and_the_table_says_so(bench) -> None:
    code, results, table = bench
    for config in ("coordinates", "locators"):
        cell = results[config]["demo-signup|target_removed"]
        assert not cell["passed"]
        assert cell["message"].startswith("failure:"), cell["message"]
    assert code == 0  # no false pass, every flow recorded
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if "|" in line}
    assert rows["FALSE-PASS on regressions"].count("0/1 (0.0%)") == 2
    assert rows["below_fold"].count("1/1 (100%)") == 1
    assert rows["below_fold"].count("0/1 (0%)") == 1


# -- the oracle grounder's choice, on hand-made candidate lists (what its JS returns) -------
def _item(role: str, name: str, submit: bool = False) -> dict:
    return {"role": role, "name": name, "submit": submit, "box": [0, 0, 10, 10]}


def test_the_oracle_grounder_goes_by_the_words_only() -> None:
    from _testgen_grounder import choose

    send = _item("button", "Send")
    boxes = [_item("checkbox", "91YPF"), _item("checkbox", "nd7Qt"), send]
    # a quoted name must be the element's name: "Submit" renamed "Send" is not found
    assert choose("Click the 'Submit' button.", boxes) is None
    assert choose("Click the 'nd7Qt' checkbox.", boxes) is boxes[1]
    # unquoted words: the shared words decide; "submit" names the form's submit button
    signup = [_item("textbox", "Full name"), _item("textbox", "Email"),
              _item("button", "Sign up", submit=True)]  # fmt: skip
    assert choose("Submit the form.", signup) is signup[2]
    assert choose("Click the Email field.", signup) is signup[1]
    # two things fit equally: a model could not tell them apart, nor does the oracle
    removes = [_item("button", "Remove"), _item("button", "Remove")]
    assert choose("Click the Remove button.", removes) is None
    assert choose("Click the Search button.", signup) is None
