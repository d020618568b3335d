"""``AgentJetJob``: a job built in Python runs the CLI's training pipeline, in-process for the
debug backbone and as a launched ``ajet train`` (the verl/trinity path), and hands back the run
folder and the last step's metrics."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ajet_core import metrics as m
from ajet_core.config.loader import load_config
from ajet_core.errors import ConfigError

PROJECT = Path(__file__).resolve().parent / "agentjet_project"


def arithmetic_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project)
    rows = [
        {"task_id": f"t{s}", "main_query": f"What is {s} + 1?", "metadata": {"answer": str(s + 1)}}
        for s in range(4)
    ]
    (project / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return project


def build_job(project: Path, model_dir: Path):
    from ajet import AgentJetJob
    from ajet_core.importing import import_object

    judge_class = import_object("agents/boxed_judge.py:BoxedAnswerJudge", base_dir=project)
    job = AgentJetJob(
        backbone="debug", model=str(model_dir), experiment_name="job", output_dir=project / "runs"
    )
    job.set_workflow("agents.math_agent->ArithmeticAgent")
    job.set_data("jsonl", project / "train.jsonl")
    job.set_judger(judge_class)  # a class: recorded by its file path
    for key, value in {
        "rollout.batch_size": 2,
        "rollout.num_repeat": 2,
        "rollout.max_tokens_per_call": 8,
        "rollout.equal_reward_groups": "keep",  # the tiny model cannot add
        "trainer.total_steps": 1,
        "logging.loggers": ["jsonl"],
    }.items():
        job.override(key, value)
    return job


def check_run(result, project: Path) -> None:
    assert result.run_dir.parent == project / "runs" / "job" and result.run_dir.is_dir()
    assert result.metrics["step"] == 1
    assert result.metrics[m.EPISODES] == 4 and result.metrics.get(m.EPISODES_FAILED, 0) == 0
    assert result.metrics[m.LLM_CALLS] == 8 and m.LOSS in result.metrics
    # The dumped job is an ordinary config: `ajet train --conf` reads the same job.
    dumped = load_config(result.config_path).config
    assert dumped.workflow.name == "agents.math_agent->ArithmeticAgent"
    assert dumped.judger.type.endswith("boxed_judge.py:BoxedAnswerJudge")


@pytest.mark.slow
@pytest.mark.timeout(1200)  # a whole training job: the hang detector, sized for a busy machine
def test_a_job_built_in_python_trains_in_process(tmp_path, tiny_model_dir, monkeypatch):
    project = arithmetic_project(tmp_path)
    monkeypatch.chdir(project)  # module paths resolve from the launch folder, as in AgentJet
    job = build_job(project, tiny_model_dir)
    yaml_path = job.dump_job_as_yaml(project / "job.yaml")
    assert load_config(yaml_path).config.rollout.num_repeat == 2
    result = job.tune()
    check_run(result, project)
    assert job.run_dir == result.run_dir and job.final_metrics == result.metrics


@pytest.mark.slow
@pytest.mark.timeout(1200)  # a whole training job: the hang detector, sized for a busy machine
def test_a_job_launched_as_ajet_train_returns_the_same(tmp_path, tiny_model_dir, monkeypatch):
    project = arithmetic_project(tmp_path)
    monkeypatch.chdir(project)
    result = build_job(project, tiny_model_dir).tune(launch=True)  # the verl/trinity path
    check_run(result, project)


def test_from_the_agentjet_module_path():
    import ajet
    from ajet.copilot.job import AgentJetJob

    assert ajet.AgentJetJob is AgentJetJob


def test_bad_jobs_are_refused_with_the_way_out(tmp_path):
    from ajet import AgentJetJob

    with pytest.raises(ConfigError, match="n_gpu_for_infer is a trinity option"):
        AgentJetJob(backbone="verl", n_gpu=8, n_gpu_for_infer=4)
    with pytest.raises(ConfigError, match="between 1 and n_gpu-1"):
        AgentJetJob(backbone="trinity", n_gpu=2, n_gpu_for_infer=2)
    with pytest.raises(ConfigError, match="algorithm='grpo'"):
        AgentJetJob(algorithm="ppo")
    job = AgentJetJob(backbone="trinity", n_gpu=4, n_gpu_for_infer=1)
    assert job.data["backbone"] == {
        "name": "trinity",
        "gpus_per_node": 4,
        "rollout_engines": 1,
        "tensor_parallel_size": 1,
    }
    job = AgentJetJob(output_dir=tmp_path)
    with pytest.raises(ConfigError, match="no workflow"):
        job.tune()
    job.override("rollout.num_repaet", 2)
    with pytest.raises(ConfigError, match="num_repeat"):
        _ = job.config


def test_bp_stops_only_for_the_tags_named_in_ajet_debug(monkeypatch):
    from ajet import bp

    stops: list[str] = []
    monkeypatch.setattr("sys.breakpointhook", lambda *a, **k: stops.append("stop"))
    monkeypatch.delenv("AJET_DEBUG", raising=False)
    bp("tag_a")
    monkeypatch.setenv("AJET_DEBUG", "tag_a")
    bp("tag_b")
    bp("tag_a")
    bp("tag_a")  # once=True: a tag stops once per process
    bp("tag_a", once=False)
    assert stops == ["stop", "stop"]
