"""Backbones that run in this process (``debug``): train, rollout and eval on one engine.

A backbone subclasses :class:`InProcessBackbone` and provides ``build_engine()`` and
``build_trainer(engine)``; this module supplies the commands around them. ``ajet rollout`` runs
in one process with no subprocess and no Ray, so IDE breakpoints inside a workflow work.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any, Protocol

from ajet_core.backbone import Backbone
from ajet_core.config.models import AjetConfig, FixedEndpointConfig
from ajet_core.config.plugin_sections import RunPlan
from ajet_core.data.task_stream import TaskStream
from ajet_core.engine import Engine
from ajet_core.gateway.core import DEFAULT_MODEL_NAME
from ajet_core.plugins.manager import PluginManager, get_plugin_manager
from ajet_core.rollout.endpoint import resolve_endpoint
from ajet_core.rollout.runner import EVAL_MODE, ROLLOUT_MODE
from ajet_core.rollout.summary import eval_metrics
from ajet_core.schema import EpisodeRecord, Sample
from ajet_core.training import components
from ajet_core.training.loop import LoopResult, TrainingLoop


class Trainer(Protocol):
    """What the core's training loop needs from a backbone's trainer."""

    # The policy version: weight updates applied so far (restored with a checkpoint). The
    # engine's tokens carry the version that sampled them; async mode measures staleness in it.
    step: int

    def train_step(self, samples: list[Sample]) -> dict[str, float]: ...

    def save_checkpoint(self, path: Path) -> None: ...

    def load_checkpoint(self, path: Path) -> None: ...


class InProcessBackbone(Backbone):
    def build_trainer(self, engine: Engine) -> Trainer:
        raise NotImplementedError

    def load_checkpoint_weights(self, engine: Engine, checkpoint: Path) -> None:
        """Serve a checkpoint's weights (``ajet eval --checkpoint``)."""
        trainer = self.build_trainer(engine)
        from ajet_core.training.checkpoints import load_trainer_state

        load_trainer_state(checkpoint, trainer)

    def train(
        self,
        *,
        resume: str | None = None,
        resolved: RunPlan,
        plugins: PluginManager | None = None,
        show_progress: bool = True,
    ) -> LoopResult:
        engine = self.build_engine()
        try:
            trainer = self.build_trainer(engine)
            loop = TrainingLoop(
                self.config,
                resolved,
                plugins or get_plugin_manager(),
                engine=engine,
                trainer=trainer,
                resume=resume,
                show_progress=show_progress,
            )
            result = loop.run()
        finally:
            # Async mode leaves requests of cancelled groups decoding: the decode thread must
            # stop before the interpreter does (a thread inside torch at exit aborts the process).
            close = getattr(engine, "close", None)
            if close is not None:
                close()
        print(f"run folder: {result.run_dir}")
        return result

    def rollout(
        self,
        *,
        resolved: RunPlan,
        plugins: PluginManager | None = None,
        split: str = "train",
        num_tasks: int | None = None,
        num_repeat: int = 1,
        printer: Any = None,
    ) -> list[EpisodeRecord]:
        engine = self.build_engine()
        return asyncio.run(
            run_episodes(
                self.config,
                resolved,
                plugins or get_plugin_manager(),
                engine,
                mode=ROLLOUT_MODE,
                split=split,
                num_tasks=num_tasks or self.config.rollout.batch_size,
                num_repeat=num_repeat,
                printer=printer or print_episode,
            )
        )

    def evaluate(
        self,
        *,
        resolved: RunPlan,
        checkpoint: str | None = None,
        endpoint: str | None = None,
        plugins: PluginManager | None = None,
    ) -> dict[str, Any]:
        if endpoint:
            return evaluate_endpoint(
                self.config, resolved, resolve_endpoint(endpoint), plugins=plugins
            )
        engine = self.build_engine()
        if checkpoint:
            self.load_checkpoint_weights(engine, Path(checkpoint))
        return _evaluate(self.config, resolved, plugins, engine)

    def serve(
        self,
        *,
        checkpoint: str | None = None,
        host: str = "127.0.0.1",
        port: int = 8000,
        api_key: str | None = None,
        model_name: str = DEFAULT_MODEL_NAME,
        plugins: PluginManager | None = None,
    ) -> None:
        """Serve the base model or a checkpoint as an OpenAI-compatible endpoint until Ctrl-C."""
        from ajet_core.gateway.serving import ServingGateway

        engine = self.build_engine()
        if checkpoint:
            self.load_checkpoint_weights(engine, Path(checkpoint))
        gateway = ServingGateway(
            engine,
            self.config,
            api_key=api_key,
            model_name=model_name,
            plugins=plugins or get_plugin_manager(),
        )

        async def serve_forever() -> None:
            base_url = await gateway.start_http(host, port)
            # One flushed line a supervising script can wait for.
            print(f"serving {model_name!r} at {base_url} (Ctrl-C stops)", flush=True)
            try:
                await asyncio.Event().wait()
            finally:
                await gateway.stop_http()

        try:
            asyncio.run(serve_forever())
        except KeyboardInterrupt:
            print("stopped", flush=True)


def evaluate_endpoint(
    config: AjetConfig,
    resolved: RunPlan,
    endpoint: FixedEndpointConfig,
    *,
    plugins: PluginManager | None = None,
) -> dict[str, Any]:
    """Evaluate an external model on the validation tasks: every agent's calls go to it.

    No backbone and no engine: the calls are recorded without tokens, and the metrics are the
    same as for a checkpoint, so the numbers can be compared side by side.
    """
    print(f"evaluating {endpoint.model!r} at {endpoint.base_url}", file=sys.stderr)
    return _evaluate(config, resolved, plugins, None, default_endpoint=endpoint)


def _evaluate(
    config: AjetConfig,
    resolved: RunPlan,
    plugins: PluginManager | None,
    engine: Engine | None,
    default_endpoint: FixedEndpointConfig | None = None,
) -> dict[str, Any]:
    eval_config = config.eval
    episodes = asyncio.run(
        run_episodes(
            config,
            resolved,
            plugins or get_plugin_manager(),
            engine,
            mode=EVAL_MODE,
            split="validation",
            num_tasks=eval_config.max_tasks,
            num_repeat=eval_config.num_repeat,
            printer=None,
            default_endpoint=default_endpoint,
        )
    )
    metrics = eval_metrics(episodes)
    print(json.dumps(metrics, indent=2))
    return metrics


async def run_episodes(
    config: AjetConfig,
    resolved: RunPlan,
    plugins: PluginManager,
    engine: Engine | None,
    *,
    mode: str,
    split: str,
    num_tasks: int | None,
    num_repeat: int,
    printer: Any,
    default_endpoint: FixedEndpointConfig | None = None,
) -> list[EpisodeRecord]:
    from ajet_core.gateway.core import Gateway

    reader = components.instantiate(resolved.task_reader)
    parts = components.EpisodeParts.build(config, resolved, plugins)
    stream = TaskStream(
        reader, split, batch_size=num_tasks or 1_000_000, shuffle=False, num_epochs=1
    )
    tasks = stream.next_batch() or []
    gateway = Gateway(
        engine,
        config,
        mode="eval" if mode == EVAL_MODE else "rollout",
        plugins=plugins,
        default_endpoint=default_endpoint,
    )
    runner = parts.runner(gateway, num_repeat=num_repeat, reader=reader, on_episode_end=printer)
    try:
        return await runner.run_tasks(tasks, step=0, mode=mode)
    finally:
        reader.close()
        await gateway.stop_http()


def print_episode(episode: EpisodeRecord) -> None:
    """Each episode's conversation, reward and token counts, as ``ajet rollout`` shows them."""
    from rich.console import Console
    from rich.panel import Panel

    console = Console()
    lines = []
    for call in episode.calls:
        lines.append(
            f"[dim]-- call {call.call_id} agent={call.agent} prompt={len(call.prompt_ids)} "
            f"response={len(call.response_ids)} tokens, finish={call.finish_reason}[/dim]"
        )
        last = call.messages[-1] if call.messages else {}
        lines.append(f"[cyan]{last.get('role', '?')}:[/cyan] {str(last.get('content', ''))[:500]}")
        reply = (call.reply or {}).get("content") or json.dumps(
            (call.reply or {}).get("tool_calls", "")
        )
        lines.append(f"[green]assistant:[/green] {str(reply)[:500]}")
    status = (
        f"reward={episode.reward} success={episode.is_success}"
        if episode.ok
        else f"[red]failed: {episode.error}[/red]"
    )
    lines.append(
        f"[bold]{status}[/bold] samples={len(episode.samples)} "
        f"drift_fallbacks={episode.drift_fallbacks}"
    )
    console.print(
        Panel(
            "\n".join(lines),
            title=f"task {episode.task.task_id} / episode {episode.episode_id[:8]}",
        )
    )
