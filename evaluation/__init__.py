"""Benchmarks: MiniWoB++ task success and ScreenSpot-style grounding, on any backend.

`--backend oracle` (an oracle that answers from the DOM or the record's box in the
dialect's exact words) measures the pipeline's ceiling; its reports say so at the top.
"""

from .grounding import GroundingOracle, GroundingRecord, Prediction, evaluate, load_records
from .grounding_report import write_grounding_report
from .miniwob import EpisodeResult, MiniWoBConfig, oracle_backends, run_episodes
from .miniwob_pages import PRESETS, select_tasks
from .miniwob_report import write_miniwob_report

__all__ = [
    "PRESETS",
    "EpisodeResult",
    "GroundingOracle",
    "GroundingRecord",
    "MiniWoBConfig",
    "Prediction",
    "evaluate",
    "load_records",
    "oracle_backends",
    "run_episodes",
    "select_tasks",
    "write_grounding_report",
    "write_miniwob_report",
]
