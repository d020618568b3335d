"""Entry point of ajet-backbone-debug: registrations only, no heavy imports."""

from __future__ import annotations

from ajet_core.environment import requirement_command
from ajet_core.hookspecs import hookimpl


@hookimpl
def ajet_register_backbones(registry):
    registry.add(
        "debug",
        "ajet_backbone_debug.backbone:DebugBackbone",
        description="in-process transformers engine + PPO/GRPO trainer (CPU or one GPU)",
        requires=["torch", "transformers"],
        install_hint=requirement_command("torch", "transformers"),
    )


@hookimpl
def ajet_add_commands(cli):
    # Dotted imports stay inside the handler so `ajet --help` never imports torch.
    from ajet_backbone_debug import commands, export_command

    cli.add_command(
        "model",
        "build or import local models (tiny test model, SmolLM2)",
        commands.run,
        commands.configure,
    )
    export_command.add(cli)  # `ajet export CHECKPOINT OUT_DIR`
