"""Run the generated tests of the survival bench: one pytest subprocess per configuration,
holding every (flow, change) pair, so each configuration starts one Chromium and gives
each test a fresh context (pytest-playwright's own `page`).

Each pair is the generated file and its `__pixelpilot__` folder copied under
`<config>/<change>/<flow>/`, with one line changed: `RECORDED_ORIGIN`, the base URL the
test runs against without `--base-url`, points at the change's path on the bench server
(`--base-url` would do the same for a whole run, but a run here holds every change). The
configuration's conftest swaps what it must: the coordinates baseline replaces `pilot`;
the oracle configuration gives the plugin's own `pilot` a DOM-answering model tier. The
viewport change's conftest sets pytest-playwright's context size and DPR.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from _testgen_flows import Flow
from testgen_pages import VIEWPORT_CHANGES

BENCH = Path(__file__).resolve().parent
UNCHANGED = "unchanged"

#: name -> (what the table calls it, --pixelpilot-heal, conftest body)
CONFIGS: dict[str, tuple[str, str, str]] = {
    "coordinates": ("coordinates only", "off", """
@pytest.fixture
def pilot(page, request):
    from _testgen_coords import coordinate_pilot

    return coordinate_pilot(page, request)
"""),
    "locators": ("locators only (heal off)", "off", ""),
    "visual": ("locators + visual", "on", ""),
    "oracle": ("all tiers, oracle grounder", "on", """
@pytest.fixture
def pilot(pilot, page):
    from _testgen_grounder import oracle_tier

    pilot.model = oracle_tier(page)
    return pilot
"""),
}  # fmt: skip
_HEADER = f"import sys\n\nimport pytest\n\nsys.path.insert(0, {str(BENCH)!r})\n"
_VIEWPORT = """
@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {{**browser_context_args, "viewport": {{"width": {w}, "height": {h}}},
            "device_scale_factor": {dpr}}}
"""
_ORIGIN = re.compile(r'^RECORDED_ORIGIN = "[^"]*"$', re.MULTILINE)
_HEALED = re.compile(r"^(\S+::\S+) step \d+.*-> (\w+) tier$", re.MULTILINE)


@dataclass
class Outcome:
    passed: bool
    message: str = ""
    healed: set[str] = field(default_factory=set)  # tiers that healed a step


def _stem(flow: Flow, change: str) -> str:
    return f"test_{flow.id.replace('-', '_')}__{change}"


def lay_out(root: Path, config: str, tests: dict[str, Path], flows: dict[str, Flow],
            changes: list[str], origin: str) -> dict[str, tuple[str, str]]:  # fmt: skip
    """Write `root/<config>/`; returns module stem -> (flow id, change)."""
    base = root / config
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    (base / "conftest.py").write_text(_HEADER + CONFIGS[config][2])
    stems = {}
    for change in changes:
        folder = base / change
        folder.mkdir()
        if change in VIEWPORT_CHANGES:
            (w, h), dpr = VIEWPORT_CHANGES[change]
            (folder / "conftest.py").write_text(
                "import pytest\n" + _VIEWPORT.format(w=w, h=h, dpr=dpr)
            )
        at = origin if change == UNCHANGED else f"{origin}/c/{change}"
        for fid, test in tests.items():
            flow = flows[fid]
            place = folder / fid
            shutil.copytree(test.parent / "__pixelpilot__", place / "__pixelpilot__")
            source = test.read_text(encoding="utf-8")
            rebased, n = _ORIGIN.subn(f'RECORDED_ORIGIN = "{at}"', source)
            if n != 1:
                raise ValueError(f"{test}: no single RECORDED_ORIGIN line to rebase")
            stem = _stem(flow, change)
            (place / f"{stem}.py").write_text(rebased, encoding="utf-8")
            stems[stem] = (fid, change)
    return stems


def environment(flows: list[Flow], tests: dict[str, Path]) -> dict[str, str]:
    """The subprocess's environment: no PIXELPILOT_* from outside, and each secret the
    generated files read (`os.environ["NAME"]`) set from its flow's value."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXELPILOT_")}
    for flow in flows:
        if flow.id not in tests:
            continue
        wanted = set(re.findall(r'os\.environ\["([^"]+)"\]', tests[flow.id].read_text()))
        for name in wanted:
            value = next((v for k, v in flow.secrets.items() if k.upper() == name.upper()), None)
            if value is None:
                raise KeyError(f"{tests[flow.id]} reads ${name}, which flow {flow.id} lacks")
            env[name] = value
    return env


def run_config(root: Path, config: str, stems: dict[str, tuple[str, str]], env: dict[str, str],
               on_line: Callable[[str], None] | None = None,
               ) -> dict[tuple[str, str], Outcome]:  # fmt: skip
    """pytest on `root/<config>`; (flow id, change) -> outcome. A pair pytest reports
    nothing for (it crashed) is a failure with that said."""
    base = root / config
    xml = base / "junit.xml"
    command = [
        sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "-o",
        "junit_family=xunit1", f"--junitxml={xml}", "--timeout=180",
        f"--pixelpilot-heal={CONFIGS[config][1]}", "--output", str(base / "test-results"),
        str(base),
    ]  # fmt: skip
    lines = []
    with subprocess.Popen(command, cwd=base, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as proc:  # fmt: skip
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if on_line is not None:
                on_line(line)
    output = "".join(lines)
    (base / "pytest.log").write_text(output, encoding="utf-8")
    outcomes = _read_junit(xml, stems) if xml.is_file() else {}
    for nodeid, tier in _HEALED.findall(output):
        stem = Path(nodeid.split("::")[0]).stem
        if stem in stems and stems[stem] in outcomes:
            outcomes[stems[stem]].healed.add(tier)
    for pair in stems.values():
        outcomes.setdefault(pair, Outcome(False, "no result from pytest (see pytest.log)"))
    return outcomes


def _read_junit(xml: Path, stems: dict[str, tuple[str, str]]) -> dict[tuple[str, str], Outcome]:
    outcomes = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        stem = Path(case.get("file") or "").stem or (case.get("classname") or "").split(".")[-1]
        if stem not in stems:
            continue
        bad = next((c for c in case if c.tag in ("failure", "error", "skipped")), None)
        message = "" if bad is None else f"{bad.tag}: {(bad.get('message') or '')[:300]}"
        outcomes[stems[stem]] = Outcome(bad is None, message)
    return outcomes
