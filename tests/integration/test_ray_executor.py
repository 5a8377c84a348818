"""`--executor ray` against a real local Ray cluster (`ray start --head`, 2 CPUs): the
same results files as the thread executor, byte for byte once the timings are set aside.

The cluster is started once for the module, on 127.0.0.1 with its own temp folder, and
stopped in the fixture's finalizer (its process group: the head and every process it
started). Each sweep runs the real `pixelpilot` command in a subprocess, as a user would,
with `--ray-address`. The thread executor's run of the same sweep is the reference.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.openai_fixtures import FakeServer, chat

pytest.importorskip("ray", reason="pip install 'pixelpilot[ray]' (make setup installs it)")
pytestmark = pytest.mark.slow

PIXELPILOT = str(Path(sys.executable).with_name("pixelpilot"))
RAY = str(Path(sys.executable).with_name("ray"))
# Ray 2.5x turns token authentication on for `ray start`; this loopback-only test cluster
# opts out, for the head and for every driver that connects to it.
# The model server in these tests is on 127.0.0.1: no proxy in the way.
ENV = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
ENV |= {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
TASKS = ["click-button", "enter-text"]
#: what differs between two runs of the same sweep whatever the executor: time
TIMINGS = {"created", "wall_s", "episodes_per_minute", "seconds", "step_seconds",
           "model_seconds", "mean_s_per_step", "mean_model_s_per_step"}  # fmt: skip
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d")  # in trajectory folder names


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A head node on 127.0.0.1 with 2 CPUs; yields its address."""
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="ppray-")  # short: Ray's socket paths have a length limit
    log = Path(temp) / "head.log"
    command = [RAY, "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
               "--node-ip-address=127.0.0.1", "--include-dashboard=false",
               "--disable-usage-stats", f"--temp-dir={temp}"]  # fmt: skip
    with log.open("wb") as out:
        head = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=ENV,
                                start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 240  # a loaded 2-core machine starts it in ~20 s
        while b"Ray runtime started" not in log.read_bytes():
            assert head.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        _stop(head)


def _stop(head: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the head's process group (it stops what it started), SIGKILL if it
    is still there a minute later."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(head.pid, signal.SIGTERM)
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)
        head.wait(timeout=30)


def pixelpilot(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PIXELPILOT, *args], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=600)  # fmt: skip


def _untimed(value: Any) -> Any:
    """`value` without its timings, trajectory folder names without their time stamp."""
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    if isinstance(value, str):
        return STAMP.sub("<time>", value)
    return value


def _markdown(path: Path) -> str:
    """report.md with its timings blanked: '4 episodes in 4.7 s', the s/step column."""
    text = STAMP.sub("<time>", path.read_text())
    text = re.sub(r"in \d+\.\d s\.", "in <s> s.", text)
    rows = []
    for line in text.splitlines():
        cells = line.split(" | ")
        if len(cells) == 6 and line.startswith("| ") and "mean reward" not in line:
            cells[4] = "<s>"  # task | success | mean reward | mean steps | s/step | errors
        rows.append(" | ".join(cells))
    return "\n".join(rows)


def _steps(folder: Path) -> list[Any]:
    """A trajectory's records without what is time or place: the page's port, clocks."""
    records = []
    for line in (folder / "trajectory.jsonl").read_text().splitlines():
        record = json.loads(line)
        for key in ("time", "created", "timings", "duration_s"):
            record.pop(key, None)
        if "url" in record:
            record["url"] = re.sub(r":\d+/", ":<port>/", record["url"])
        if "text" in record:  # the page's own clock, beside the task area
            record["text"] = [
                re.sub(r"Time left: \d+", "Time left: <s>", t) for t in record["text"]
            ]
        for result in record.get("results", []):
            result.pop("timings", None)
        records.append(record)
    return records


def _episode_lines(out: Path) -> list[str]:
    """episodes.jsonl, untimed and sorted (workers finish in any order)."""
    lines = (out / "episodes.jsonl").read_text().splitlines()
    return sorted(json.dumps(_untimed(json.loads(x)), sort_keys=True) for x in lines)


def assert_same_miniwob_results(thread: Path, other: Path) -> None:
    results = [json.loads((d / "results.json").read_text()) for d in (thread, other)]
    assert _untimed(results[0]) == _untimed(results[1])
    assert results[0]["overall"]["pipeline_errors"] == 0
    assert _markdown(thread / "report.md") == _markdown(other / "report.md")
    lines = [_episode_lines(d) for d in (thread, other)]
    assert lines[0] == lines[1] and len(lines[0]) == len(TASKS) * 2
    for episode in results[0]["episodes"]:  # every trajectory, file for file
        mine = thread / episode["trajectory"]
        (theirs,) = (other / Path(episode["trajectory"]).parent).iterdir()
        names = [sorted(p.name for p in d.iterdir()) for d in (mine, theirs)]
        assert names[0] == names[1] and "report.html" in names[0]
        assert _steps(mine) == _steps(theirs)
    assert not [p.name for p in other.iterdir() if p.name.startswith(".pixelpilot-ray-")]


def _sweep(*extra: str) -> list[str]:
    return ["eval", "miniwob", *TASKS, "--seeds", "1-2", "--backend", "oracle",
            "--dialect", "qwen2vl", "--workers", "2", *extra]  # fmt: skip


@pytest.fixture(scope="module")
def thread_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: the thread executor's run of the sweep (output path relative to
    the working folder, as `--out` usually is)."""
    work = tmp_path_factory.mktemp("thread")
    done = pixelpilot(*_sweep("--out", "sweep"), cwd=work)
    assert done.returncode == 0, done.stderr
    return work / "sweep"


def test_a_miniwob_sweep_on_ray_gives_the_thread_executors_results(
    ray_cluster: str, thread_run: Path, tmp_path: Path
) -> None:
    done = pixelpilot(*_sweep("--out", "sweep", "--executor", "ray", "--ray-address",
                              ray_cluster), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "(ray executor)" in done.stdout and "[4/4] " in done.stdout
    assert_same_miniwob_results(thread_run, tmp_path / "sweep")


def test_a_worker_that_cannot_see_the_output_folder_ships_its_trajectories(
    ray_cluster: str, thread_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node on another machine: the driver's marker is not there, so each actor records
    on its own disk and sends the files with the result; the driver writes them."""
    import ray

    from pixelpilot.evaluation import executor_ray
    from pixelpilot.evaluation.executor import BackendRecipe
    from pixelpilot.evaluation.miniwob import MiniWoBConfig
    from pixelpilot.evaluation.miniwob_report import write_miniwob_report

    @contextlib.contextmanager
    def unseen(out_dir: Path) -> Iterator[Any]:
        yield executor_ray._OutDir("sweep", os.getcwd(), ".no-such-marker")

    monkeypatch.setattr(executor_ray, "_marked", unseen)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    config = MiniWoBConfig(tasks=TASKS, seeds=[1, 2], dialect="qwen2vl", workers=2)
    ray.init(address=ray_cluster, include_dashboard=False, log_to_driver=False)
    try:
        results = executor_ray.run_miniwob(config, BackendRecipe("oracle"), Path("sweep"),
                                           oracle=True)  # fmt: skip
    finally:
        ray.shutdown()
    write_miniwob_report(Path("sweep"), config, results, oracle=True, wall_s=1.0,
                         backend="oracle (DOM solvers; a pipeline check)")  # fmt: skip
    assert_same_miniwob_results(thread_run, tmp_path / "sweep")


# -- grounding -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def grounding_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real screenshots of MiniWoB pages with their elements' boxes."""
    folder = tmp_path_factory.mktemp("grounding")
    build = pixelpilot("eval", "build-grounding-set", "set", "--no-govuk", "--miniwob-task",
                       "click-checkboxes", "--miniwob-task", "click-button", "--seeds", "1-2",
                       "--viewport", "160x210", "--dpr", "2", cwd=folder)  # fmt: skip
    assert build.returncode == 0, build.stderr
    data = folder / "set" / "grounding.jsonl"
    assert len(data.read_text().splitlines()) >= 8
    return data


def _grounding(data: Path, out: Path, *extra: str) -> list[str]:
    return ["eval", "grounding", str(data), "--dialect", "uitars15", "--batch-size", "3",
            "--out", str(out), *extra]  # fmt: skip


def assert_same_grounding_results(thread: Path, other: Path) -> None:
    for name in ("predictions.jsonl",):  # byte for byte, in the records' order
        assert (thread / name).read_bytes() == (other / name).read_bytes()
    results = [json.loads((d / "results.json").read_text()) for d in (thread, other)]
    assert _untimed(results[0]) == _untimed(results[1])
    blank = [re.sub(r"\d+\.\d s\.", "<s> s.", (d / "report.md").read_text())
             for d in (thread, other)]  # fmt: skip
    assert blank[0] == blank[1]


def test_grounding_with_the_oracle_on_ray_gives_the_thread_executors_results(
    ray_cluster: str, grounding_set: Path, tmp_path: Path
) -> None:
    thread = pixelpilot(*_grounding(grounding_set, tmp_path / "t", "--backend", "oracle"),
                        cwd=tmp_path)  # fmt: skip
    assert thread.returncode == 0, thread.stderr
    ray_run = pixelpilot(*_grounding(grounding_set, tmp_path / "r", "--backend", "oracle",
                                     "--executor", "ray", "--workers", "2", "--ray-address",
                                     ray_cluster), cwd=tmp_path)  # fmt: skip
    assert ray_run.returncode == 0, ray_run.stderr
    assert "pipeline ceiling (oracle): 100.0%" in ray_run.stdout
    assert_same_grounding_results(tmp_path / "t", tmp_path / "r")


def test_grounding_against_a_model_server_on_ray_gives_the_same_hits_and_misses(
    ray_cluster: str, grounding_set: Path, tmp_path: Path
) -> None:
    """Each actor talks to the server itself. The server answers by the instruction
    (whatever order the requests come in), so some answers hit and some miss."""
    server = FakeServer()
    server.models = {"object": "list", "data": [{"id": "ui-tars-1.5", "object": "model"}]}

    def answer(body: Any) -> Any:
        text = json.dumps(body["messages"][-1]["content"])
        x, y = (sum(map(ord, text)) % 300, len(text) % 400)
        return chat(f"Thought: there.\nAction: click(point='<point>{x} {y}</point>')")

    server.fallback = answer
    server.thread.start()
    try:
        common = ("--backend", "openai", "--base-url", server.base_url, "--server", "openai")
        thread = pixelpilot(*_grounding(grounding_set, tmp_path / "t", *common), cwd=tmp_path)
        assert thread.returncode == 0, thread.stderr
        ray_run = pixelpilot(*_grounding(grounding_set, tmp_path / "r", *common, "--executor",
                                         "ray", "--workers", "2", "--ray-address",
                                         ray_cluster), cwd=tmp_path)  # fmt: skip
        assert ray_run.returncode == 0, ray_run.stderr
    finally:
        server.httpd.shutdown()
    saved = json.loads((tmp_path / "r" / "results.json").read_text())
    assert saved["misses"] and saved["accuracy"] < 1.0  # the comparison sees misses too
    assert_same_grounding_results(tmp_path / "t", tmp_path / "r")


# -- errors ----------------------------------------------------------------------------
def test_an_unreachable_cluster_is_one_line_and_exit_6(tmp_path: Path) -> None:
    done = pixelpilot(*_sweep("--out", "x", "--executor", "ray", "--ray-address",
                              f"127.0.0.1:{_free_port()}"), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 6, done.stderr
    assert "pixelpilot eval miniwob: cannot reach Ray at 127.0.0.1:" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_ray_address_without_the_ray_executor_is_a_usage_error(tmp_path: Path) -> None:
    done = pixelpilot(*_sweep("--ray-address", "127.0.0.1:1"), cwd=tmp_path)
    assert done.returncode == 2
    assert "--ray-address needs --executor ray" in done.stderr


def test_without_ray_the_ray_executor_says_what_to_install(tmp_path: Path) -> None:
    """Ray made unimportable in a fresh interpreter; the thread path never imports it."""
    script = (
        "import sys; sys.modules['ray'] = None\n"
        "import pixelpilot.evaluation.cli, pixelpilot.evaluation.executor\n"
        "from pixelpilot.cli import main\n"
        f"sys.exit(main({_sweep('--out', 'x', '--executor', 'ray')!r}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=ENV,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 6, done.stderr
    assert "needs Ray, which is not installed: pip install 'pixelpilot[ray]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_importing_the_evaluation_commands_does_not_import_ray() -> None:
    script = ("import sys, pixelpilot.evaluation.cli, pixelpilot.evaluation.executor\n"
              "sys.exit('ray' in sys.modules)")  # fmt: skip
    assert subprocess.run([sys.executable, "-c", script], timeout=120).returncode == 0


def test_an_in_process_model_runs_in_its_own_actor(
    ray_cluster: str, grounding_set: Path, tmp_path: Path
) -> None:
    """`--backend transformers` on Ray: one model actor (the tiny random-weight Qwen2-VL),
    the grounding actors ask it. Its replies are not compared with the thread executor's:
    a random model's greedy argmax can flip on CPU thread-count rounding (Ray gives its
    workers other thread settings), which is not the executor's doing."""
    from tests.fixtures.tiny_qwen import cached_tiny_model

    model = str(cached_tiny_model("qwen2vl"))
    argv = _grounding(grounding_set, tmp_path / "r", "--backend", "transformers", "--model",
                      model, "--limit", "4", "--executor", "ray", "--workers", "2",
                      "--ray-address", ray_cluster)  # fmt: skip
    done = subprocess.run([PIXELPILOT, *argv], cwd=tmp_path, env=ENV | {"HF_HUB_OFFLINE": "1"},
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = (tmp_path / "r" / "predictions.jsonl").read_text().splitlines()
    records = [json.loads(x) for x in grounding_set.read_text().splitlines()[:4]]
    predictions = [json.loads(x) for x in lines]
    assert [p["record"]["instruction"] for p in predictions] == [
        r["instruction"] for r in records
    ]  # in the records' order, whichever actor answered
    assert all(p["reply"] for p in predictions)  # the model answered every one
    saved = json.loads((tmp_path / "r" / "results.json").read_text())
    assert saved["backend"] == f"transformers {model}" and saved["records"] == 4


def test_grounding_workers_need_the_ray_executor(
    grounding_set: Path, tmp_path: Path, capsys
) -> None:
    from pixelpilot.cli import main

    argv = _grounding(grounding_set, tmp_path / "t", "--backend", "oracle", "--workers", "2")
    assert main(argv) == 2
    assert "--workers needs --executor ray" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()  # refused before anything was written
