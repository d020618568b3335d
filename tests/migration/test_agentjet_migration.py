"""docs/migrating_from_agentjet.md, checked: an AgentJet project (workflow, judge and YAML written
against AgentJet's API, in ``agentjet_project/``) runs here unchanged, from its own folder, as
AgentJet users launch it: ``ajet --conf math_agent.yaml --backbone debug``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ajet_core import metrics as m
from ajet_core.metric_loggers.jsonl import read_metrics

PROJECT = Path(__file__).resolve().parent / "agentjet_project"
AJET = Path(sys.executable).with_name("ajet")


def make_project(tmp_path: Path, model_dir: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project)
    config = project / "math_agent.yaml"
    config.write_text(config.read_text().replace("MODEL_PATH", str(model_dir)))
    (project / "data").mkdir()
    for split, seeds in (("train", range(4)), ("validation", range(100, 102))):
        rows = [
            {
                "task_id": f"{split}-{s}",
                "main_query": f"What is {s} + {s + 1}?",
                "metadata": {"answer": str(2 * s + 1)},
            }
            for s in seeds
        ]
        (project / "data" / f"{split}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows)
        )
    return project


@pytest.mark.timeout(1200)  # a whole job in a subprocess: the hang detector, sized for load
def test_an_agentjet_project_trains_unchanged(tmp_path, tiny_model_dir):
    project = make_project(tmp_path, tiny_model_dir)
    # The tiny model cannot add, so every reward is 0; keeping equal-reward groups (a command-line
    # override, not a change to the project) makes the step train anyway.
    result = subprocess.run(
        [
            str(AJET),
            "--conf",
            "math_agent.yaml",
            "--backbone",
            "debug",
            "rollout.equal_reward_groups=keep",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # AgentJet-only keys are named, not silently dropped.
    assert "agent_madness_reward" in result.stderr
    [run_dir] = list((project / "runs" / "arithmetic").iterdir())
    [row] = [r for r in read_metrics(run_dir) if m.LOSS in r]
    # The AgentJet workflow ran through the gateway and the AgentJet judge scored it.
    assert row[m.EPISODES] == 4 and row[m.EPISODES_FAILED] == 0
    assert row[m.LLM_CALLS] == 8 and row[m.DRIFT_FALLBACKS] == 0
    assert 0.0 <= row[m.REWARD_MEAN] <= 1.0
    assert row[m.SAMPLES] == 4 and row[m.TRAINED_TOKENS] > 0
    assert (run_dir / "checkpoints" / "step_000001").is_dir()  # trainer_common.save_freq: 1


def test_a_judge_returning_the_wrong_shape_is_a_clear_episode_error():
    from ajet.task_judge.base_judge import BaseJudge
    from ajet_core.schema import Task
    from ajet_core.workflow import WorkflowOutput

    class Sloppy(BaseJudge):
        def compute_reward(self, workflow_task, workflow_output):
            return 1.0

    with pytest.raises(TypeError, match=r"return \(reward, is_success\)"):
        Sloppy(None).judge(Task(), WorkflowOutput())


def test_the_guide_lists_every_mapped_agentjet_key():
    from ajet_core.config.agentjet_compat import DIRECT_MAPPING, JUDGER_MAPPING, READER_MAPPING

    guide = (
        Path(__file__).resolve().parents[2] / "docs" / "migrating_from_agentjet.md"
    ).read_text()
    named = (
        [key.rsplit(".", 1)[-1] for key in DIRECT_MAPPING]
        + list(READER_MAPPING)
        + list(JUDGER_MAPPING)
    )
    missing = [key for key in named if key not in guide]
    assert not missing, f"add these AgentJet keys to docs/migrating_from_agentjet.md: {missing}"


@pytest.mark.slow
@pytest.mark.parametrize(
    "workflow",
    ["agents.math_raw_http->RawHttpMathAgent", "agents.math_langchain->LangChainMathAgent"],
    ids=["raw_http_requests_post", "langchain_agent_invoke"],
)
@pytest.mark.timeout(1200)  # a whole job in a subprocess: the hang detector, sized for load
def test_synchronous_clients_inside_async_execute_train_unchanged(
    tmp_path, tiny_model_dir, workflow
):
    """AgentJet's raw-HTTP and LangChain tutorials call a synchronous client (requests.post,
    agent.invoke) inside `async execute`; the gateway serves off the workflow's event loop, so
    the episodes finish and train (they used to hang)."""
    project = make_project(tmp_path, tiny_model_dir)
    result = subprocess.run(
        [
            str(AJET),
            "--conf",
            "math_agent.yaml",
            "--backbone",
            "debug",
            f"workflow.name={workflow}",
            "rollout.equal_reward_groups=keep",
            "rollout.episode_timeout=300",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [run_dir] = list((project / "runs" / "arithmetic").iterdir())
    [row] = [r for r in read_metrics(run_dir) if m.LOSS in r]
    assert row[m.EPISODES] == 4 and row.get(m.EPISODES_FAILED, 0) == 0
    assert row[m.LLM_CALLS] >= 4 and row[m.SAMPLES] >= 4 and row[m.TRAINED_TOKENS] > 0
    # The gateway's HTTP server is shut down with the run, not left for the interpreter to
    # destroy ("Task was destroyed but it is pending! ... Server.serve()").
    assert "was destroyed but it is pending" not in result.stdout + result.stderr


def test_agentjet_module_paths_its_tutorials_import_exist():
    """``ajet.schema.task`` (AgentJet's home of its task types) imports; AgentJet's AgentScope
    1.x model says where to run it when another AgentScope is installed."""
    from importlib import metadata

    import ajet_core
    from ajet.schema.task import Task, WorkflowOutput, WorkflowTask

    assert (Task, WorkflowTask, WorkflowOutput) == (
        ajet_core.schema.Task,
        ajet_core.WorkflowTask,
        ajet_core.WorkflowOutput,
    )
    if metadata.version("agentscope").startswith("1."):
        pytest.skip("AgentScope 1.x: tests/ajet_backbone_trinity/test_agentjet_utils.py runs it")
    with pytest.raises(ImportError, match="AgentScope 1.x.*trinity environment"):
        import ajet.utils.robust_dashscope  # noqa: F401
