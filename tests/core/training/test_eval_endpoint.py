"""`ajet serve` and `ajet eval --endpoint`: an external OpenAI-compatible model evaluated with the
same tasks, workflow, judger and metrics as the policy. And evaluation itself: its results do not
depend on concurrency, load or timing.

The external model is the tiny model served by `ajet serve` in its own process: a real server
over real HTTP. Greedy decoding with one episode at a time makes its replies identical to the
in-process engine's, so the two evaluations must agree episode by episode.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import openai
import pytest

from ajet_core.config.loader import load_config
from ajet_core.config.plugin_sections import validate_plugin_sections
from ajet_core.plugins.manager import get_plugin_manager
from ajet_core.rollout.endpoint import normalise_base_url, resolve_endpoint
from ajet_core.rollout.runner import EVAL_MODE
from ajet_core.training.inprocess import run_episodes

from .test_train_loop import ajet, task_files, write_config  # noqa: F401 - task_files is a fixture

SERVE_KEY = "sk-test-serve"


@pytest.fixture(scope="module")
def eval_config(tmp_path_factory, tiny_model_dir, task_files) -> Path:  # noqa: F811
    folder = tmp_path_factory.mktemp("evalcfg")
    return write_config(
        folder, tiny_model_dir, task_files, rollout={"max_concurrency": 1}, eval={"max_tasks": 5}
    )


@pytest.fixture(scope="module")
def served(eval_config, ajet_serve) -> str:
    return ajet_serve(eval_config, "--api-key", SERVE_KEY, "--model-name", "tiny-policy")


def test_served_model_answers_openai_clients_and_checks_the_key(served):
    client = openai.OpenAI(base_url=served, api_key=SERVE_KEY)
    assert [model.id for model in client.models.list()] == ["tiny-policy"]
    reply = client.chat.completions.create(
        model="tiny-policy",
        messages=[{"role": "user", "content": "What is 2+3?"}],
        max_tokens=8,
        temperature=0,
    )
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage.completion_tokens >= 1
    # Streaming works as for any OpenAI server.
    chunks = list(
        client.chat.completions.create(
            model="tiny-policy",
            messages=[{"role": "user", "content": "What is 2+3?"}],
            max_tokens=8,
            temperature=0,
            stream=True,
        )
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == reply.choices[0].message.content
    with pytest.raises(openai.AuthenticationError, match="ajet serve --api-key"):
        openai.OpenAI(base_url=served, api_key="wrong", max_retries=0).models.list()


def _episodes(config_path: Path, overrides: tuple[str, ...] = (), **kwargs):
    loaded = load_config(str(config_path), list(overrides))
    plugins = get_plugin_manager()
    resolved = validate_plugin_sections(loaded.config, plugins)
    return asyncio.run(
        run_episodes(
            loaded.config,
            resolved,
            plugins,
            mode=EVAL_MODE,
            split="validation",
            num_tasks=5,
            num_repeat=1,
            printer=None,
            **kwargs,
        )
    )


def test_endpoint_episodes_match_the_in_process_policy(served, eval_config):
    from ajet_backbone_debug.engine import TransformersEngine

    loaded = load_config(str(eval_config), [])
    engine = TransformersEngine.from_path(loaded.config.model.path, dtype="float32", device="cpu")
    local = _episodes(eval_config, engine=engine)
    remote = _episodes(
        eval_config, engine=None, default_endpoint=resolve_endpoint(served + "/", api_key=SERVE_KEY)
    )
    assert len(local) == len(remote) == 5
    by_task = {e.task.task_id: e for e in remote}
    for mine in local:
        theirs = by_task[mine.task.task_id]
        assert theirs.ok, theirs.error
        assert [c.reply for c in theirs.calls] == [c.reply for c in mine.calls]
        assert theirs.reward == mine.reward
        # The endpoint's calls are recorded (messages and reply) but never trained on.
        assert all(not c.trainable and not c.prompt_ids for c in theirs.calls)
        assert theirs.samples == []


def test_ajet_eval_endpoint_prints_the_same_metrics_as_the_base_model(served, eval_config):
    base = ajet("eval", "--conf", str(eval_config))
    remote = ajet(
        "eval", "--conf", str(eval_config), "--endpoint", served, "--endpoint-api-key", SERVE_KEY
    )
    assert base.returncode == 0, base.stderr
    assert remote.returncode == 0, remote.stderr
    assert "evaluating 'tiny-policy'" in remote.stderr
    assert json.loads(remote.stdout[remote.stdout.index("{") :]) == json.loads(
        base.stdout[base.stdout.index("{") :]
    )


def test_bad_endpoints_are_clear_errors(served, eval_config):
    unreachable = ajet("eval", "--conf", str(eval_config), "--endpoint", "http://127.0.0.1:9/v1")
    assert (
        unreachable.returncode == 2
        and "unreachable" in unreachable.stderr
        and "127.0.0.1:9" in unreachable.stderr
    )
    wrong_key = ajet(
        "eval", "--conf", str(eval_config), "--endpoint", served, "--endpoint-api-key", "nope"
    )
    assert (
        wrong_key.returncode == 2
        and "401" in wrong_key.stderr
        and "--endpoint-api-key" in wrong_key.stderr
    )
    both = ajet("eval", "--conf", str(eval_config), "--endpoint", served, "--checkpoint", "x")
    assert both.returncode == 2 and "not both" in both.stderr
    assert normalise_base_url("http://h:1/v1/chat/completions") == "http://h:1/v1"
    with pytest.raises(Exception, match="not an http"):
        normalise_base_url("localhost:8000")


async def _evaluate_beside_training_load(config_path: Path, engine, overrides: list[str]):
    """The validation episodes while sampled, non-invariant requests keep the engine's shared batch
    busy (what a training rollout or another user does to a served model)."""
    from ajet_core.engine import SamplingParams

    loaded = load_config(str(config_path), overrides)
    plugins = get_plugin_manager()
    resolved = validate_plugin_sections(loaded.config, plugins)
    finished = asyncio.Event()
    story = engine.tokenizer.apply_chat_template(
        [{"role": "user", "content": "Tell me a long story about a cat."}],
        add_generation_prompt=True,
        return_dict=False,
    )

    async def load() -> int:
        rounds = 0
        while not finished.is_set() and rounds < 500:  # bounded; ends with the evaluation
            sampled = SamplingParams(temperature=1.0, max_tokens=16)
            await asyncio.gather(*(engine.generate(story, sampled) for _ in range(4)))
            rounds += 1
        return rounds

    background = asyncio.ensure_future(load())
    try:
        episodes = await run_episodes(
            loaded.config,
            resolved,
            plugins,
            engine,
            mode=EVAL_MODE,
            split="validation",
            num_tasks=5,
            num_repeat=1,
            printer=None,
        )
    finally:
        finished.set()
        rounds = await background
    return episodes, rounds


def _per_task(episodes) -> dict:
    return {
        e.task.task_id: (
            e.reward,
            [(list(c.response_ids), list(c.response_logprobs)) for c in e.calls],
        )
        for e in episodes
    }


def test_evaluation_is_the_same_at_any_concurrency_and_under_load(eval_config):
    """The gateway asks for batch-invariant decoding in evaluation: each episode's calls are
    computed with shapes that depend on them alone, so one episode at a time on an idle engine and
    five at once beside a busy shared batch give the same tokens and logprobs, bit for bit."""
    from ajet_backbone_debug.engine import TransformersEngine

    loaded = load_config(str(eval_config), [])
    engine = TransformersEngine.from_path(loaded.config.model.path, dtype="float32", device="cpu")
    try:
        alone = _episodes(eval_config, engine=engine)  # rollout.max_concurrency 1, idle engine
        crowded, rounds = asyncio.run(
            _evaluate_beside_training_load(eval_config, engine, ["rollout.max_concurrency=8"])
        )
    finally:
        engine.close()
    assert rounds >= 1 and engine.max_rows_seen >= 4  # the shared batch was busy meanwhile
    assert all(e.ok for e in alone + crowded)
    assert _per_task(crowded) == _per_task(alone)


def test_serve_needs_no_task_files(tmp_path, tiny_model_dir, ajet_serve):
    """Serving reads no tasks: a config whose data files are elsewhere (another machine's paths)
    still serves."""
    config = write_config(tmp_path, tiny_model_dir, tmp_path / "not-here")
    served = ajet_serve(config, "--model-name", "no-data")
    client = openai.OpenAI(base_url=served, api_key="unused")
    assert [model.id for model in client.models.list()] == ["no-data"]
    # Training with the same config still refuses at once, naming the file.
    refused = ajet("train", "--conf", str(config))
    assert refused.returncode == 2 and "not-here" in refused.stderr
