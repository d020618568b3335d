"""verl's own agent-loop worker runs ajet workflows through the ``ajet`` agent loop.

Real: verl's ``AgentLoopWorker`` (its batching, padding and DataProto assembly), verl's dataset
class reading our task parquet, verl's advantage and policy-loss code, our agent loop, gateway,
workflow, judger, tracker and advantages. Replaced: only the rollout servers behind
``LLMServerClient`` (vLLM, GPU-only) by the tiny model on CPU (``cpu_server.py``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import torch

from .cpu_server import CpuServerClient
from .helpers import make_addition_data, prepare, write_config


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_addition_data(tmp_path_factory.mktemp("addition"))


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    from ajet_backbone_debug.engine import TransformersEngine

    engine = TransformersEngine.from_path(str(tiny_model_dir), max_model_len=1024, seed=0)
    yield engine
    engine.close()


def dataset_batch(verl_config, parquet: Path, rows: int, n: int):
    """What verl's trainer hands the agent loops: dataset rows, a uid each, repeated n times."""
    from verl import DataProto
    from verl.utils import hf_tokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn

    tokenizer = hf_tokenizer(verl_config.actor_rollout_ref.model.path)
    dataset = RLHFDataset(
        data_files=[str(parquet)], tokenizer=tokenizer, config=verl_config.data, processor=None
    )
    batch = DataProto.from_single_dict(collate_fn([dataset[i] for i in range(rows)]))
    batch.non_tensor_batch["uid"] = np.array([f"uid-{i}" for i in range(rows)], dtype=object)
    return batch.repeat(repeat_times=n, interleave=True)


def runtime_of(prepared):
    from ajet_backbone_verl.runtime import AjetRuntime

    return AjetRuntime.for_config(str(prepared.run_dir / "config.yaml"))


def test_verl_worker_runs_ajet_episodes_into_a_dataproto(tmp_path, tiny_model_dir, data, engine):
    from verl.experimental.agent_loop.agent_loop import AgentLoopWorker
    from verl.trainer.ppo.core_algos import get_policy_loss_fn
    from verl.trainer.ppo.ray_trainer import compute_advantage
    from verl.workers.config import ActorConfig

    # verl's legacy worker returns one row per episode: the addition agent makes one call.
    _, prepared = prepare(
        write_config(tmp_path, tiny_model_dir, data), "backbone.trainer.use_v1=false"
    )
    config = prepared.verl_config
    worker = AgentLoopWorker(config, llm_client=CpuServerClient(config, engine))
    batch = dataset_batch(config, prepared.run_dir / "verl" / "train.parquet", rows=2, n=2)
    output = asyncio.run(worker.generate_sequences(batch))

    assert len(output) == 4
    episodes = {e.episode_id: e for e in runtime_of(prepared).recent_episodes}
    prompt_width = output.batch["prompts"].shape[1]
    for row in range(4):
        episode = episodes[output.non_tensor_batch["ajet_episode_id"][row]]
        assert episode.ok, episode.error
        [sample] = episode.samples
        cut = sample.loss_mask.index(1)
        attention = output.batch["attention_mask"][row].bool()
        prompt = output.batch["prompts"][row][attention[:prompt_width]].tolist()
        response = output.batch["responses"][row][attention[prompt_width:]].tolist()
        # verl's row is our sample, token for token: prompt up to the first trained token.
        assert prompt + response == sample.input_ids and len(prompt) == cut
        valid = int(attention[prompt_width:].sum())
        assert output.batch["response_mask"][row][:valid].tolist() == sample.loss_mask[cut:]
        logprobs = output.batch["rollout_log_probs"][row][:valid]
        expected = torch.tensor(sample.old_logprobs[cut:], dtype=logprobs.dtype)
        assert torch.allclose(logprobs, expected, atol=1e-6)
        # The core's advantage rides as the score on the last response token.
        scores = output.batch["rm_scores"][row]
        assert scores[valid - 1].item() == pytest.approx(
            sample.advantage
        ) and scores.abs().sum() == pytest.approx(abs(sample.advantage))
        assert sample.advantage == pytest.approx(episode.advantage)
    # Each group's advantages are the core's GRPO: centred on the group mean.
    for uid in ("uid-0", "uid-1"):
        rows = [i for i in range(4) if output.non_tensor_batch["uid"][i] == uid]
        assert sum(
            episodes[output.non_tensor_batch["ajet_episode_id"][i]].advantage for i in rows
        ) == pytest.approx(0, abs=1e-6)

    # verl's advantage step with the "ajet" estimator spreads each row's advantage over its mask.
    output.batch["token_level_rewards"] = output.batch["rm_scores"]
    output = compute_advantage(output, adv_estimator="ajet", num_repeat=2)
    mask = output.batch["response_mask"].float()
    per_row = output.batch["rm_scores"].sum(-1, keepdim=True)
    assert torch.allclose(output.batch["advantages"], per_row * mask)

    # verl's PPO-clip loss on these rows.
    loss_fn = get_policy_loss_fn("vanilla")
    actor = ActorConfig(
        strategy="fsdp", ppo_mini_batch_size=2, ppo_micro_batch_size_per_gpu=1, rollout_n=2
    )

    def policy_loss(data):
        old = data.batch["rollout_log_probs"]
        loss, *_ = loss_fn(
            old_log_prob=old,
            log_prob=old + 0.01 * data.batch["response_mask"],
            advantages=data.batch["advantages"],
            response_mask=data.batch["response_mask"],
            loss_agg_mode="token-mean",
            config=actor,
        )
        return float(loss)

    loss = policy_loss(output)
    ratio = torch.exp(torch.tensor(0.01))
    expected = float(-(output.batch["advantages"] * ratio * mask).sum() / mask.sum())
    assert loss == pytest.approx(expected, rel=1e-5)


def test_several_samples_per_episode_carry_their_episode_advantage(
    tmp_path, tiny_model_dir, data, engine, monkeypatch
):
    """verl's v1 trainer takes a list of rows per call: the two agents' samples of each episode."""
    import hydra
    from verl import DataProto
    from verl.experimental.agent_loop.agent_loop import (
        AgentLoopWorker,
        DictConfigWrap,
        ToolListWrap,
    )
    from verl.trainer.ppo.v1 import agent_loop_tq
    from verl.trainer.ppo.v1.agent_loop_tq import AgentLoopWorkerTQ
    from verl.trainer.ppo.v1.utils import compute_advantage_for_multi_trajectories

    workflow = str(Path(__file__).with_name("two_agents.py")) + ":SolverAndChecker"
    _, prepared = prepare(write_config(tmp_path, tiny_model_dir, data, workflow=workflow))
    config = prepared.verl_config
    assert config.trainer.use_v1
    worker = AgentLoopWorker(config, llm_client=CpuServerClient(config, engine))
    row = dataset_batch(config, prepared.run_dir / "verl" / "train.parquet", rows=1, n=1)
    kwargs = {key: value[0] for key, value in row.non_tensor_batch.items()}
    sampling = {
        "temperature": 1.0,
        "top_p": 1.0,
        "top_k": -1,
        "repetition_penalty": 1.0,
        "logprobs": True,
    }

    async def sessions():
        # As verl's v1 worker runs a prompt: rollout.n agent-loop calls, one per session id.
        from verl.experimental.agent_loop.agent_loop import _agent_loop_registry

        loops = [
            hydra.utils.instantiate(
                config=_agent_loop_registry["ajet"],
                trainer_config=DictConfigWrap(config=config),
                server_manager=worker.llm_client,
                tokenizer=worker.tokenizer,
                processor=None,
                hf_model_type=None,
                dataset_cls=worker.dataset_cls,
                data_config=DictConfigWrap(config.data),
                tools=ToolListWrap([]),
            )
            for _ in range(2)
        ]
        return await asyncio.gather(
            *(
                loop.run(sampling, session_id=i, global_steps=1, **kwargs)
                for i, loop in enumerate(loops)
            )
        )

    per_session = asyncio.run(sessions())
    episodes = {e.episode_id: e for e in runtime_of(prepared).recent_episodes}
    for outputs in per_session:
        assert isinstance(outputs, list) and len(outputs) == 2
        episode = episodes[outputs[0].extra_fields["ajet_episode_id"]]
        assert {o.extra_fields["ajet_agent"] for o in outputs} == {"solver", "checker"}
        assert all(o.reward_score == pytest.approx(episode.advantage) for o in outputs)
    # One request id per episode and agent: verl's router keeps each conversation on one
    # server (sticky sessions), where its earlier turns are in the prefix cache. Two episodes,
    # each with one call of the solver and one of the checker: four distinct ids, each naming
    # its agent.
    ids = [r["request_id"] for r in worker.llm_client.requests]
    assert len(ids) == 4 and len(set(ids)) == 4
    assert sorted(i.rsplit(":", 1)[1] for i in ids) == ["checker", "checker", "solver", "solver"]
    assert len({i.rsplit(":", 1)[0] for i in ids}) == 2  # one episode prefix per episode

    # verl v1's own post-processing of each call's rows into its TransferQueue store; the store
    # (a Ray service) is the boundary replaced here, by a dict of what was put.
    stored, stored_tags = {}, []

    async def kv_batch_put(keys, fields, tags, partition_id):
        stored_tags.extend(tags)
        for i, key in enumerate(keys):
            stored[key] = {
                name: fields[name][i]
                for name in ("response_mask", "rm_scores", "prompts", "responses")
            }

    worker_tq = AgentLoopWorkerTQ.__ray_actor_class__.__new__(AgentLoopWorkerTQ.__ray_actor_class__)
    AgentLoopWorker.__init__(
        worker_tq, config, llm_client=worker.llm_client
    )  # no tq.init: no store here
    monkeypatch.setattr(agent_loop_tq.tq, "async_kv_batch_put", kv_batch_put)

    async def postprocess():
        for session, outputs in enumerate(per_session):
            await worker_tq._agent_loop_postprocess(
                outputs, False, session_id=session, **{**kwargs, "uid": "uid-0", "global_steps": 1}
            )

    asyncio.run(postprocess())
    keys = sorted(stored)
    assert keys == ["uid-0_0_0", "uid-0_0_1", "uid-0_1_0", "uid-0_1_1"]
    # verl's step metrics build these integer arrays from every row's tags (None would crash them);
    # the CPU server reports no weight version, so the rows are of the previous step's weights.
    for name in ("min_global_steps", "max_global_steps"):
        assert np.array([tag[name] for tag in stored_tags], dtype=int).tolist() == [0, 0, 0, 0]

    def stack(name):
        return torch.nn.utils.rnn.pad_sequence(
            [torch.as_tensor(stored[k][name]) for k in keys], batch_first=True
        )

    data = DataProto.from_dict(
        tensors={"response_mask": stack("response_mask"), "rm_scores": stack("rm_scores")},
        non_tensors={"uid": np.array(["uid-0"] * len(keys), dtype=object)},
    )
    data.batch["token_level_rewards"] = data.batch["rm_scores"]
    data = compute_advantage_for_multi_trajectories(
        data, batch_keys=keys, adv_estimator="ajet", num_repeat=2
    )
    for i, key in enumerate(keys):
        session = int(key.split("_")[1])
        advantage = episodes[per_session[session][0].extra_fields["ajet_episode_id"]].advantage
        mask = data.batch["response_mask"][i].float()
        # Every row of an episode trains on that episode's advantage: no regrouping by uid.
        assert torch.allclose(data.batch["advantages"][i], advantage * mask, atol=1e-6)

    # In the ajet process, the metrics bridge turns the finished step into our metrics and records.
    from ajet_backbone_verl.metrics_bridge import MetricsBridge
    from ajet_backbone_verl.runtime import spool_folder

    from ajet_core import metrics as m
    from ajet_core.loggers import LoggerSet
    from ajet_core.metric_loggers.jsonl import JsonlLogger, read_metrics
    from ajet_core.training.episode_spool import EpisodeSpool
    from ajet_core.training.records import read_records

    run_dir = prepared.run_dir
    spool = EpisodeSpool(
        spool_folder(run_dir),
        run_dir,
        runtime_of(prepared).config,
        LoggerSet({"jsonl": JsonlLogger(run_dir)}),
    )
    bridge = MetricsBridge(spool)
    bridge.flush_finished_steps()
    assert not read_metrics(run_dir), "a step is logged only once it is over"
    bridge.stop()
    [row] = read_metrics(run_dir)
    assert row["step"] == 1 and row[m.EPISODES] == 2 and row[m.EPISODES_FAILED] == 0
    assert row[m.SAMPLES] == 4 and row[m.LLM_CALLS] == 4 and row[m.DRIFT_FALLBACKS] == 0
    assert (
        row[m.agent_metric("solver", "samples")] == 2
        and row[m.agent_metric("checker", "samples")] == 2
    )
    records = list(read_records(run_dir / "records" / "train_step_000001.jsonl.gz"))
    assert sorted(r["episode_id"] for r in records) == sorted(
        e.episode_id for e in episodes.values() if e.step == 1
    )
    assert all(len(r["samples"]) == 2 for r in records)
    assert not (run_dir / "verl" / "episodes" / "train_step_000001").exists()


def test_max_concurrency_bounds_the_episodes_a_worker_runs_at_once(
    tmp_path, tiny_model_dir, data, engine
):
    from verl.experimental.agent_loop.agent_loop import AgentLoopWorker

    def most_in_flight(*overrides):
        folder = tmp_path / str(len(overrides))
        folder.mkdir()
        _, prepared = prepare(
            write_config(folder, tiny_model_dir, data),
            "backbone.trainer.use_v1=false",
            *overrides,
        )
        config = prepared.verl_config
        client = CpuServerClient(config, engine)
        worker = AgentLoopWorker(config, llm_client=client)
        batch = dataset_batch(config, prepared.run_dir / "verl" / "train.parquet", rows=2, n=2)
        output = asyncio.run(worker.generate_sequences(batch))
        assert len(output) == 4 and len(client.requests) == 4  # every episode ran, groups settled
        return client.most_in_flight

    assert most_in_flight() > 1  # the default (16): the four episodes at once
    assert most_in_flight("rollout.max_concurrency=1") == 1


def test_evaluation_rows_score_the_reward_and_rows_carry_weight_versions(
    tmp_path, tiny_model_dir, data, engine
):
    """Validation rows: verl's own validation metrics read the score, so it is the reward (training
    rows carry the advantage). Served weight versions reach the rows' staleness fields."""
    from ajet_backbone_verl.agent_loop import weight_versions
    from verl.experimental.agent_loop.agent_loop import AgentLoopWorker

    from ajet_core.schema import EpisodeRecord, LlmCall, Task

    _, prepared = prepare(
        write_config(tmp_path, tiny_model_dir, data), "backbone.trainer.use_v1=false"
    )
    config = prepared.verl_config
    worker = AgentLoopWorker(config, llm_client=CpuServerClient(config, engine))
    batch = dataset_batch(config, prepared.run_dir / "verl" / "validation.parquet", rows=2, n=1)
    output = asyncio.run(worker.generate_sequences(batch))
    episodes = {e.episode_id: e for e in runtime_of(prepared).recent_episodes}
    for row in range(2):
        episode = episodes[output.non_tensor_batch["ajet_episode_id"][row]]
        assert episode.group_key.startswith("verl/eval/")
        assert output.batch["rm_scores"][row].sum().item() == pytest.approx(episode.reward)

    def call(version):
        return LlmCall(
            call_id="c",
            agent="a",
            target_tag="a",
            trainable=True,
            prompt_ids=[1],
            response_ids=[2],
            response_logprobs=[0.0],
            temperature=1.0,
            finish_reason="stop",
            messages=[],
            weight_version=version,
        )

    record = EpisodeRecord(
        episode_id="e", task=Task(), step=7, calls=[call(5), call(6), call(None)]
    )
    assert weight_versions(record) == {"min_global_steps": 5, "max_global_steps": 6}
    assert weight_versions(EpisodeRecord(episode_id="f", task=Task(), step=7)) == {
        "min_global_steps": 6,
        "max_global_steps": 6,
    }
