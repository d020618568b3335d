"""The LangChain and AgentScope math-agent tutorials: one ``ajet rollout`` episode each on the
tiny model (through the gateway, judged), and their Python tools run in the real sandbox."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from ajet_core import metrics as m
from ajet_core.metric_loggers.jsonl import read_metrics
from ajet_core.training.records import read_records

from .helpers import trinity_python_with_agentscope_1

REPO = Path(__file__).resolve().parents[2]
AJET = Path(sys.executable).with_name("ajet")
MAKE_DATA = REPO / "tutorial" / "example_math_agent" / "make_data.py"
TUTORIALS = {
    "langchain": REPO / "tutorial" / "example_math_agent_langchain",
    "agentscope": REPO / "tutorial" / "example_math_agent_agentscope",
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("math_data")
    subprocess.run(
        [sys.executable, str(MAKE_DATA), "--out", str(out), "--train", "4", "--validation", "2"],
        check=True,
        capture_output=True,
    )
    return out


def load_tutorial(name: str):
    path = TUTORIALS[name] / "math_agent.py"
    spec = importlib.util.spec_from_file_location(f"tutorial_math_agent_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rollout_one_episode(ajet: Path, config: Path, tiny_model_dir: Path, data_dir: Path) -> str:
    """``ajet rollout --num-tasks 1`` of a tutorial; the episode must be judged without drift."""
    result = subprocess.run(
        [
            str(ajet),
            "rollout",
            "--conf",
            str(config),
            f"model.path={tiny_model_dir}",
            f"task_reader.train_path={data_dir / 'train.jsonl'}",
            f"task_reader.validation_path={data_dir / 'validation.jsonl'}",
            "--num-tasks",
            "1",
        ],
        cwd=REPO,  # the YAML names repo paths
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    # One episode, judged (a reward, not "failed: ..."), recorded through the gateway.
    assert "task math-0" in output and "reward=" in output, output[-4000:]
    assert "failed" not in output and "drift_fallbacks=0" in output, output[-4000:]
    return output


@pytest.mark.timeout(1200)  # a whole job in a subprocess: the hang detector, sized for load
@pytest.mark.parametrize("name", sorted(TUTORIALS))
def test_ajet_rollout_runs_one_judged_episode(name, tiny_model_dir, data_dir):
    pytest.importorskip(f"ajet_plugins_{name}")
    output = rollout_one_episode(
        AJET, TUTORIALS[name] / "math_agent.yaml", tiny_model_dir, data_dir
    )
    assert "-- call chatcmpl-" in output and "samples=0" not in output, output[-4000:]


@pytest.mark.timeout(1200)  # a whole job in a subprocess: the hang detector, sized for load
def test_agentscope_1_tutorial_runs_in_the_trinity_environment(tiny_model_dir, data_dir):
    """AgentScope 1.x (``ReActAgent``) lives in the trinity environment: run its ``ajet`` there."""
    python, why = trinity_python_with_agentscope_1()
    if python is None:
        pytest.skip(why)
    rollout_one_episode(
        python.with_name("ajet"),
        TUTORIALS["agentscope"] / "math_agent_v1.yaml",
        tiny_model_dir,
        data_dir,
    )


async def test_langchain_tutorial_tool_runs_python_in_the_sandbox():
    pytest.importorskip("ajet_plugins_langchain")
    tool = load_tutorial("langchain").python_tool(timeout=5.0)
    assert tool.name == "run_python"
    from langchain_core.utils.function_calling import convert_to_openai_tool

    # What the model sees is the sandbox's own tool schema.
    spec = convert_to_openai_tool(tool)["function"]
    assert spec["parameters"]["required"] == ["code"] and "code" in spec["parameters"]["properties"]
    assert (await tool.ainvoke({"code": "print(6 * 7)"})).strip() == "42"


async def test_agentscope_tutorial_tool_runs_python_in_the_sandbox():
    pytest.importorskip("ajet_plugins_agentscope")
    calls: list[str] = []
    tool = load_tutorial("agentscope").python_tool(5.0, calls)
    assert tool.name == "run_python" and tool.input_schema["required"] == ["code"]
    decision = await tool.check_permissions({"code": "print(1)"}, None)
    assert decision.behavior.value == "allow"
    chunk = await tool(code="print(6 * 7)")
    assert "42" in str(chunk) and calls == ["print(6 * 7)"]


def train_one_step(ajet: Path, config: Path, tiny_model_dir: Path, data_dir: Path, runs: Path):
    """``ajet train`` of a tutorial for one step on the debug backbone; checks that it trained."""
    overrides = [
        f"model.path={tiny_model_dir}",
        f"task_reader.train_path={data_dir / 'train.jsonl'}",
        f"task_reader.validation_path={data_dir / 'validation.jsonl'}",
        f"experiment.output_dir={runs}",
        "trainer.total_steps=1", "rollout.batch_size=1", "rollout.num_repeat=2",
        "rollout.equal_reward_groups=keep", "eval.every_n_steps=0", "checkpoint.every_n_steps=0",
        "logging.loggers=[jsonl]", "workflow.options.max_turns=2",
    ]  # fmt: skip
    result = subprocess.run(
        [str(ajet), "train", "--conf", str(config), "--backbone", "debug", *overrides],
        cwd=REPO, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    [run_dir] = list(runs.glob("*/*"))
    failures = [
        record["error"]
        for path in sorted((run_dir / "records").glob("train_*"))
        for record in read_records(path)
        if record["error"]
    ]
    assert not failures, failures
    rows = read_metrics(run_dir)
    [row] = [r for r in rows if m.EPISODES in r]
    # The step trained: the optimizer saw tokens from the agent's samples.
    assert any(r.get(m.TRAIN_TOKENS, 0) > 0 and m.LOSS in r for r in rows), rows
    assert row["step"] == 1 and row[m.EPISODES] == 2 and row[m.LLM_CALLS] >= 2
    assert row[m.DRIFT_FALLBACKS] == 0 and row[m.SAMPLES] >= 1


@pytest.mark.timeout(1200)  # a whole job in a subprocess: the hang detector, sized for load
@pytest.mark.parametrize("name", sorted(TUTORIALS))
def test_one_training_step_on_the_debug_backbone(name, tiny_model_dir, data_dir, tmp_path):
    pytest.importorskip(f"ajet_plugins_{name}")
    config = TUTORIALS[name] / "math_agent.yaml"
    train_one_step(AJET, config, tiny_model_dir, data_dir, tmp_path / "runs")


@pytest.mark.timeout(1200)  # a whole job in a subprocess: the hang detector, sized for load
def test_agentscope_1_tutorial_trains_on_the_debug_backbone_in_the_trinity_environment(
    tiny_model_dir, data_dir, tmp_path
):
    """AgentJet's AgentScope tutorials are AgentScope 1.x: users train them on the debug
    backbone with the trinity environment's ``ajet`` (docs/migrating_from_agentjet.md)."""
    python, why = trinity_python_with_agentscope_1()
    if python is None:
        pytest.skip(why)
    config = TUTORIALS["agentscope"] / "math_agent_v1.yaml"
    train_one_step(python.with_name("ajet"), config, tiny_model_dir, data_dir, tmp_path / "runs")
