"""The agent: perceive-plan-act loop, history, safety policy, trajectories and the CLI.

Only the command line lives here so far; the loop builds on `vlm` and `environments`.
"""
