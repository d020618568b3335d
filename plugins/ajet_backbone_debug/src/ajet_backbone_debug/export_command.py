"""``ajet export CHECKPOINT OUT_DIR``: a merged model directory from a debug-backbone checkpoint.

Wired into the CLI by ``plugin.py``'s ``ajet_add_commands`` calling :func:`add`. Heavy imports
(torch, transformers, peft) happen only when the command runs.
"""

from __future__ import annotations

import argparse
from typing import Any


def add(cli: Any) -> None:
    cli.add_command(
        "export",
        "write a full model directory (LoRA merged) from a debug-backbone checkpoint",
        run,
        configure,
    )


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a checkpoint folder written by the debug trainer")
    parser.add_argument("out_dir", help="the new model folder (must not exist or be empty)")
    parser.add_argument(
        "--base-model",
        default=None,
        help="base model folder for a LoRA checkpoint (default: the path recorded at training)",
    )


def run(args: argparse.Namespace) -> int:
    from ajet_backbone_debug.export import export_checkpoint

    out = export_checkpoint(args.checkpoint, args.out_dir, base_model=args.base_model)
    print(
        f"exported {args.checkpoint} -> {out} (load it with AutoModelForCausalLM.from_pretrained)"
    )
    return 0
