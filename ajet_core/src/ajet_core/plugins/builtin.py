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


@hookimpl
def ajet_register_loggers(registry):
    registry.add(
        "console", "ajet_core.metric_loggers.console:ConsoleLogger", description="one line per step"
    )
    registry.add(
        "jsonl",
        "ajet_core.metric_loggers.jsonl:JsonlLogger",
        description="metrics.jsonl in the run dir",
    )
    registry.add(
        "tensorboard",
        "ajet_core.metric_loggers.tensorboard:TensorBoardLogger",
        description="TensorBoard event files in the run dir",
        requires=["tensorboard"],
        install_hint="pip install tensorboard",
    )
    # Hosted services: available once installed, used only when logging.loggers names them.
    registry.add(
        "wandb",
        "ajet_core.metric_loggers.wandb_logger:WandbLogger",
        description="Weights & Biases (logging.logger_options.wandb: project, entity, mode, ...)",
        requires=["wandb>=0.19"],
        install_hint="pip install wandb",
    )
    registry.add(
        "swanlab",
        "ajet_core.metric_loggers.swanlab_logger:SwanlabLogger",
        description="SwanLab (logging.logger_options.swanlab: project, workspace, mode, ...)",
        requires=["swanlab>=0.10"],
        install_hint="pip install 'swanlab>=0.10'",
    )
