"""The agent: perceive-plan-act loop, history, safety policy, trajectories and the CLI.

Importing it stays light: torch, transformers and Playwright load only when a backend or
an environment is built.
"""

from .loop import Agent, AgentConfig, AgentStep, RunResult, run_batch
from .policy import Decision, Policy
from .secrets import Secrets

__all__ = [
    "Agent",
    "AgentConfig",
    "AgentStep",
    "Decision",
    "Policy",
    "RunResult",
    "Secrets",
    "run_batch",
]
