"""The ``rubric`` judger with ``ajet serve`` as its fixed judge endpoint: weighted criteria per
task, verdicts parsed from a real small model's replies, and no silent 0 when a reply holds no
verdict (the tiny random model never gives one)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ajet_plugins_std.llm import LlmError
from ajet_plugins_std.verdicts import parse_verdict

from ajet_core.config.loader import load_config
from ajet_core.config.plugin_sections import validate_plugin_sections
from ajet_core.plugins.manager import get_plugin_manager
from ajet_core.schema import Task
from ajet_core.training.components import instantiate
from ajet_core.workflow import WorkflowOutput

QUESTION = "What is the capital of France?"
RUBRIC = [{"criterion": "The answer says Paris", "weight": 3}, "The answer mentions Berlin"]


def serve_config(folder: Path, model_dir: Path) -> Path:
    path = folder / "judge_model.yaml"
    path.write_text(f"model:\n  path: {model_dir}\n  max_model_len: 2048\nbackbone: debug\n")
    return path


def rubric_judger(base_url: str, **options):
    """The judger as a run builds it: from a config's judger section, through the registry."""
    overrides = ["judger.type=rubric", f"judger.base_url={base_url}", "judger.model=judge"]
    overrides += [f"judger.{key}={value}" for key, value in options.items()]
    config = load_config(None, overrides).config
    return instantiate(validate_plugin_sections(config, get_plugin_manager())["judger"])


@pytest.fixture(scope="module")
def smollm2_judge(ajet_serve, smollm2_dir, tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("rubric_judge")
    return ajet_serve(serve_config(folder, smollm2_dir), "--model-name", "judge")


@pytest.mark.slow
async def test_weighted_criteria_scored_by_a_served_judge_model(smollm2_judge):
    judger = rubric_judger(smollm2_judge)
    task = Task(task_id="capital", main_query=QUESTION, metadata={"rubric": RUBRIC})

    right = await judger.ajudge(task, WorkflowOutput(metadata={"final_answer": "It is Paris."}))
    # SmolLM2 (greedy) says Paris is met and Berlin is not: 3 of 4 weight points.
    assert right.metrics == {"rubric_met": 1.0, "rubric_criteria": 2.0}
    assert right.reward == pytest.approx(0.75) and right.is_success

    wrong = await judger.ajudge(task, WorkflowOutput(metadata={"final_answer": "I like turtles."}))
    assert wrong.metrics["rubric_met"] == 0.0 and wrong.reward == 0.0 and not wrong.is_success


@pytest.mark.slow
async def test_a_judge_without_a_verdict_fails_instead_of_scoring_zero(
    ajet_serve, tiny_model_dir, tmp_path
):
    gibberish = ajet_serve(serve_config(tmp_path, tiny_model_dir), "--model-name", "judge")
    judger = rubric_judger(gibberish, parse_retries=1)
    task = Task(task_id="capital", main_query=QUESTION, metadata={"rubric": RUBRIC[:1]})
    with pytest.raises(LlmError, match="no YES/NO verdict .* in 2 repl"):
        await judger.ajudge(task, WorkflowOutput(metadata={"final_answer": "Paris."}))


def test_rubrics_are_checked_where_they_are_written():
    from ajet_core.errors import ConfigError

    with pytest.raises(ConfigError, match="not a criterion"):
        rubric_judger("http://127.0.0.1:1/v1", rubric="[{weight: 2}]")
    judger = rubric_judger("http://127.0.0.1:1/v1")
    with pytest.raises(ValueError, match="no metadata\\['rubric'\\] and no judger.rubric"):
        judger.rubric_of(Task(task_id="t"))
    with pytest.raises(ValueError, match="weight"):
        judger.rubric_of(Task(task_id="t", metadata={"rubric": [{"criterion": "x", "weight": 0}]}))


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("The answer is Yes.", True),
        ("No, it names Berlin.", False),
        ("The criterion is not met because ...", False),
        ("It does meet the criterion.", True),
        ("Paris is a city", None),
        ("", None),
    ],
)
def test_verdict_words(reply, verdict):
    assert parse_verdict(reply) is verdict
