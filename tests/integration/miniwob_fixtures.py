"""MiniWoB++ pages served for tests, and a direct solver runner (no model, no loop)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from pixelpilot.agent.demo import serve_directory
from pixelpilot.evaluation.miniwob_pages import Episode, MiniWoBMissing, miniwob_html
from pixelpilot.evaluation.miniwob_solvers import Solver


@pytest.fixture(scope="session")
def miniwob_url() -> Iterator[str]:
    """Base URL of miniwob's `html` folder on a local HTTP server."""
    try:
        html = miniwob_html()
    except MiniWoBMissing as error:
        if os.environ.get("CI"):
            pytest.fail(f"{error}, and CI is set: `make test` installs it")
        pytest.skip(str(error))
    with serve_directory(html) as url:
        yield url


def run_oracle(episode: Episode, solver: Solver) -> Episode:
    """Execute the solver's actions one by one through the controller (no model, no
    loop), observing after each: the controller alone, against the task's own scoring."""
    env = episode.env
    env.observe()
    for action in solver(env, episode.utterance):
        result = env.execute(action)
        assert result.ok, f"{episode.task} seed {episode.seed}: {action!r} failed: {result.error}"
        env.observe()
    return episode
