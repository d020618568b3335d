"""Entry point of ajet-plugins-agentscope: registrations only, no heavy imports."""

from __future__ import annotations

from ajet_core.environment import requirement_command
from ajet_core.hookspecs import hookimpl


@hookimpl
def ajet_register_model_clients(registry):
    registry.add(
        "agentscope",
        "ajet_plugins_agentscope.model:make_agentscope_model",
        description="tuner.as_agentscope_model(): an AgentScope chat model on the gateway",
        requires=["agentscope>=1.0"],
        install_hint=requirement_command("agentscope>=1.0"),
    )
