"""AgentJet core's built-in plugins, registered through the same hooks as third-party ones.

Targets are dotted paths, so listing plugins imports nothing heavy.
"""

from __future__ import annotations

from ajet_core.hookspecs import hookimpl


@hookimpl
def ajet_register_trackers(registry):
    registry.add(
        "per_call",
        "ajet_core.tracking.per_call:PerCallTracker",
        description="one training sample per LLM call",
    )
    registry.add(
        "timeline_merge",
        "ajet_core.tracking.timeline_merge:TimelineMergeTracker",
        description="merge calls whose tokens extend each other into one sample",
    )


@hookimpl
def ajet_register_tool_parsers(registry):
    registry.add(
        "hermes",
        "ajet_core.toolparsers.hermes:HermesToolParser",
        description="<tool_call>{json}</tool_call> blocks (Qwen, Hermes, SmolLM2 style)",
    )
