"""A local stand-in for Entra ID, Key Vault and a Dynamics 365 org, driven by a TOML scenario.

Run it with `python -m sandbox --scenario sandbox/scenarios/demo.toml`, or in-process with `SandboxServer`.
"""

from sandbox.scenario import Scenario, ScenarioError, load_scenario
from sandbox.server import SandboxServer

__all__ = ["SandboxServer", "Scenario", "ScenarioError", "load_scenario"]
