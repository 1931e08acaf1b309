"""Dispatch scenarios: the shared YAML format (``format``) and the runner (``runner``)."""

from switchboard.scenarios.format import Scenario, ScenarioError, load_scenario
from switchboard.scenarios.runner import ScenarioResult, run_scenario

__all__ = ["Scenario", "ScenarioError", "load_scenario", "ScenarioResult", "run_scenario"]
