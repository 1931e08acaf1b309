"""Dispatch scenarios: the shared YAML format (``format``) and the runner (``runner``)."""

from .format import Scenario, ScenarioError, load_scenario
from .runner import ScenarioResult, run_scenario

__all__ = ["Scenario", "ScenarioError", "load_scenario", "ScenarioResult", "run_scenario"]
