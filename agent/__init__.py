"""The agent: perceive-plan-act loop, the scripting API (`Pilot`), history, safety policy,
trajectories and the CLI.

Importing it stays light: torch, transformers and Playwright load only when a backend or
an environment is built.
"""

from .batch import run_batch
from .locate_cache import LocateCache
from .loop import Agent, AgentConfig, AgentStep, RunResult
from .pilot import Pilot, PilotConfig
from .pilot_async import AsyncPilot
from .pilot_types import (
    ActionRefused,
    ExpectationFailed,
    Located,
    NotFound,
    PilotError,
    ReadError,
    StepFailed,
    Verdict,
    WaitTimeout,
)
from .policy import Decision, Policy
from .secrets import Secrets

__all__ = [
    "ActionRefused",
    "Agent",
    "AgentConfig",
    "AgentStep",
    "AsyncPilot",
    "Decision",
    "ExpectationFailed",
    "LocateCache",
    "Located",
    "NotFound",
    "Pilot",
    "PilotConfig",
    "PilotError",
    "Policy",
    "ReadError",
    "RunResult",
    "Secrets",
    "StepFailed",
    "Verdict",
    "WaitTimeout",
    "run_batch",
]
