"""A local stand-in for Entra ID, Key Vault and a Dynamics 365 org, driven by a TOML scenario.

Run it with `python -m sandbox --scenario sandbox/scenarios/demo.toml`, or in-process with `SandboxServer`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SandboxServer", "Scenario", "ScenarioError", "load_scenario"]


def __getattr__(name: str) -> Any:
    # Lazy, so that other modules of this package (the local Functions host) do not pay for TLS and trustme.
    if name == "SandboxServer":
        from sandbox.server import SandboxServer

        return SandboxServer
    if name in ("Scenario", "ScenarioError", "load_scenario"):
        from sandbox import scenario

        return getattr(scenario, name)
    raise AttributeError(f"module 'sandbox' has no attribute {name!r}")
