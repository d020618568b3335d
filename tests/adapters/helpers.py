"""Shared pieces of the adapter tests: the tiny model's engine, a gateway, and mask checks."""

from __future__ import annotations

from ajet_core.config.models import AjetConfig
from ajet_core.gateway.core import Gateway
from ajet_core.schema import EpisodeRecord, Task
from ajet_core.tracking.timeline_merge import TimelineMergeTracker

# The system prompt and question under which the tiny model reliably answers with a tool call.
SYSTEM_PROMPT = "You are a helpful agent. Use the tools when they help."
WEATHER_QUESTION = "What is the weather in Paris?"


def make_config(**rollout) -> AjetConfig:
    return AjetConfig.model_validate(
        {"rollout": {"temperature": 0.0, "max_tokens_per_call": 64, **rollout}}
    )


def make_gateway(engine, config: AjetConfig | None = None) -> Gateway:
    return Gateway(engine, config or make_config(), mode="train")


def record_of(recording, episode_id: str) -> EpisodeRecord:
    return EpisodeRecord(
        episode_id=episode_id,
        task=Task(main_query=WEATHER_QUESTION),
        calls=recording.calls,
        drift_fallbacks=recording.drift_fallbacks,
    )


def samples_of(recording, config: AjetConfig, episode_id: str = "ep"):
    return TimelineMergeTracker.from_config(config).build_samples(record_of(recording, episode_id))


def trinity_python_with_agentscope_1():
    """The trinity environment's python when it has AgentScope 1.x, else ``(None, why)``."""
    import subprocess
    from pathlib import Path

    python = Path(__file__).resolve().parents[2] / ".venvs" / "trinity" / "bin" / "python"
    if not python.exists():
        return None, f"no trinity environment at {python} (make setup-trinity)"
    probe = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('agentscope'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0 or not probe.stdout.startswith("1."):
        return None, f"the trinity environment has no AgentScope 1.x: {probe.stdout}{probe.stderr}"
    return python, ""
