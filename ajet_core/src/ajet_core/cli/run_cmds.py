"""``ajet train``, ``ajet rollout``, ``ajet eval`` and ``ajet config show``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ajet_core.errors import ConfigError
from ajet_core.plugins.manager import get_plugin_manager

# The config loader (pydantic models) is imported by the commands that load a config, not when
# the parser is built: `ajet plugins list` must not pay for it.
if TYPE_CHECKING:  # pragma: no cover - typing only
    from ajet_core.backbone import Backbone
    from ajet_core.config.loader import LoadedConfig
    from ajet_core.config.plugin_sections import RunPlan


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conf", "--config", dest="conf", help="the run's YAML config")
    parser.add_argument(
        "--backbone",
        help="a registered backbone, e.g. debug (overrides backbone.name; `ajet plugins list` "
        "shows the installed ones)",
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="dotted overrides, e.g. rollout.num_repeat=8",
    )


def _warn(loaded: LoadedConfig) -> None:
    for warning in loaded.warnings:
        print(f"ajet: warning: {warning}", file=sys.stderr)


def prepare_run(
    args: argparse.Namespace, *, reads_tasks: bool = True
) -> tuple[LoadedConfig, RunPlan]:
    """Load and fully validate a config, including the plugin-owned sections. ``reads_tasks``
    False (``ajet serve``): the task reader's data files are not checked, since nothing reads
    them."""
    from ajet_core.config.loader import load_config
    from ajet_core.config.plugin_sections import (
        check_data_files,
        resolve_loggers,
        validate_plugin_sections,
    )

    if not args.conf and not args.overrides:
        raise ConfigError("no config given: pass --conf path/to/config.yaml (see tutorial/)")
    loaded = load_config(args.conf, args.overrides, backbone=args.backbone)
    _warn(loaded)
    plugins = get_plugin_manager()
    resolved = validate_plugin_sections(loaded.config, plugins)
    if reads_tasks:
        check_data_files(resolved.task_reader)  # a missing file fails now, not after loading
    resolve_loggers(
        loaded.config, plugins
    )  # a bad logger option fails now, not after model loading
    plugins.configure(loaded.config)
    return loaded, resolved


def _backbone(loaded: LoadedConfig, resolved: RunPlan) -> Backbone:
    from ajet_core.backbone import build_backbone

    return build_backbone(resolved)


def train(args: argparse.Namespace) -> int:
    loaded, resolved = prepare_run(args)
    backbone = _backbone(loaded, resolved)
    backbone.train(resume=getattr(args, "resume", None), resolved=resolved)
    return 0


def rollout(args: argparse.Namespace) -> int:
    loaded, resolved = prepare_run(args)
    backbone = _backbone(loaded, resolved)
    episodes = backbone.rollout(
        resolved=resolved, split=args.split, num_tasks=args.num_tasks, num_repeat=args.num_repeat
    )
    failed = [e for e in episodes or [] if not e.ok]
    if episodes and len(failed) == len(episodes):
        causes = sorted({(e.error or "unknown").strip().splitlines()[0][:300] for e in failed})
        print(
            f"ajet: every episode failed ({len(failed)} of {len(episodes)}); causes: "
            + "; ".join(causes[:3]),
            file=sys.stderr,
        )
        return 1
    return 0


def evaluate(args: argparse.Namespace) -> int:
    if args.endpoint and args.checkpoint:
        raise ConfigError(
            "pass --checkpoint or --endpoint, not both: one model is evaluated per run"
        )
    if (args.endpoint_model or args.endpoint_api_key) and not args.endpoint:
        raise ConfigError("--endpoint-model and --endpoint-api-key need --endpoint URL")
    loaded, resolved = prepare_run(args)
    if args.endpoint:
        # An external model needs no backbone: the episodes run here and call it over HTTP.
        from ajet_core.rollout.endpoint import resolve_endpoint
        from ajet_core.training.inprocess import evaluate_endpoint

        endpoint = resolve_endpoint(args.endpoint, args.endpoint_model, args.endpoint_api_key)
        evaluate_endpoint(loaded.config, resolved, endpoint)
        return 0
    backbone = _backbone(loaded, resolved)
    backbone.evaluate(resolved=resolved, checkpoint=args.checkpoint)
    return 0


def serve(args: argparse.Namespace) -> int:
    loaded, resolved = prepare_run(args, reads_tasks=False)
    backbone = _backbone(loaded, resolved)
    backbone.serve(
        checkpoint=args.checkpoint,
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        model_name=args.model_name,
    )
    return 0


def show_config(args: argparse.Namespace) -> int:
    import yaml

    from ajet_core.config.loader import config_to_dict, load_config
    from ajet_core.config.plugin_sections import resolve_loggers, validate_plugin_sections

    loaded = load_config(args.conf, args.overrides, backbone=args.backbone)
    _warn(loaded)
    if not args.no_plugins:
        # Resolving records each plugin's defaults in its section: the output shows them all.
        plugins = get_plugin_manager()
        validate_plugin_sections(loaded.config, plugins)
        resolve_loggers(loaded.config, plugins)
    yaml.safe_dump(config_to_dict(loaded.config), sys.stdout, sort_keys=False)
    return 0


def configure_train(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument(
        "--resume", nargs="?", const="latest", help="resume from a run dir or checkpoint"
    )


def configure_rollout(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument(
        "--split", default="train", help="which split's tasks to run (default: train)"
    )
    parser.add_argument(
        "--num-tasks", type=int, default=None, help="how many tasks (default: rollout.batch_size)"
    )
    parser.add_argument("--num-repeat", type=int, default=1, help="episodes per task (default: 1)")


def configure_eval(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--checkpoint", help="a checkpoint directory (default: the base model)")
    parser.add_argument(
        "--endpoint",
        help="an external OpenAI-compatible base URL to evaluate, e.g. http://host:8000/v1",
    )
    parser.add_argument(
        "--endpoint-model", help="the endpoint's model (default: the only one it lists)"
    )
    parser.add_argument(
        "--endpoint-api-key", help="the endpoint's API key (default: $OPENAI_API_KEY)"
    )


def configure_serve(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--checkpoint", help="a checkpoint directory (default: the base model)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)"
    )
    parser.add_argument("--api-key", help="require this API key (default: accept any)")
    parser.add_argument(
        "--model-name", default="ajet-policy", help="the model id clients send and /v1/models lists"
    )


def configure_config(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="config_command", metavar="{show}")
    show = sub.add_parser("show", help="print the resolved config")
    add_config_arguments(show)
    show.add_argument(
        "--no-plugins", action="store_true", help="skip validating plugin-owned sections"
    )
    show.set_defaults(_handler=show_config)
