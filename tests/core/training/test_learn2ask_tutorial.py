"""The learn-to-ask tutorial: the simulated patient answers only what a question asks about, the
case data is deterministic, and two training steps run on the tiny model (the doctor) with
SmolLM2 served by a real ``ajet serve`` as the judge: every consultation is multi-turn and merged,
each patient reply is the patient's answer to the question just asked, the judge's verdicts are
parsed into the reward (or the episode fails as a counted judger error), and the steps train."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ajet_core import metrics as m
from ajet_core.metric_loggers.jsonl import read_metrics
from ajet_core.training.records import read_records

REPO = Path(__file__).resolve().parents[3]
TUTORIAL = REPO / "tutorial" / "example_learn2ask"
MAX_TURNS = 2


@pytest.fixture(scope="module")
def patient_module():
    sys.path.insert(0, str(TUTORIAL))
    try:
        import patient

        yield patient
    finally:
        sys.path.remove(str(TUTORIAL))
        sys.modules.pop("patient", None)


def make_data(out: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, str(TUTORIAL / "make_data.py"), "--out", str(out), *args],
        check=True,
        capture_output=True,
    )


def test_the_patient_answers_only_what_is_asked(patient_module):
    case = {
        "complaint": "I have had a bad cough.",
        "facts": {"duration": "It started three days ago.", "fever": "Yes, 38.5 degrees."},
    }
    patient = patient_module.Patient.from_case(case)
    assert patient.answer("Do you have a fever?") == "Yes, 38.5 degrees."
    assert patient.coverage == 0.5
    # A topic the case has no fact for: a plain no; no topic at all: a request to be specific.
    assert patient.answer("Are you allergic to anything?") == patient_module.NOTHING_TO_REPORT
    assert patient.answer("Tell me a story.") == patient_module.NOT_UNDERSTOOD
    # One topic per message, the first one asked: listing every keyword reveals one fact.
    assert patient.answer("How long has it lasted, and any fever?") == "It started three days ago."
    assert patient.revealed == ["fever", "duration"] and patient.coverage == 1.0
    assert patient.answer("Have you had a temperature?") == "Yes, 38.5 degrees."  # no new fact
    assert patient.revealed == ["fever", "duration"]
    with pytest.raises(ValueError, match="unknown topic.*'mood'"):
        patient_module.Patient.from_case({"complaint": "x", "facts": {"mood": "sad"}})
    with pytest.raises(ValueError, match="not a learn2ask case record"):
        patient_module.Patient.from_case({"facts": {}})


def test_case_data_is_seeded_and_the_splits_are_disjoint(tmp_path):
    make_data(tmp_path / "a", "--train", "30", "--held-out", "6")
    make_data(tmp_path / "b", "--train", "30", "--held-out", "6")
    make_data(tmp_path / "c", "--train", "30", "--held-out", "6", "--seed", "1")
    a = (tmp_path / "a" / "train.jsonl").read_text()
    assert a == (tmp_path / "b" / "train.jsonl").read_text()
    assert a != (tmp_path / "c" / "train.jsonl").read_text()
    rows = {
        name: [json.loads(line) for line in (tmp_path / "a" / name).read_text().splitlines()]
        for name in ("train.jsonl", "validation.jsonl")
    }
    assert [len(v) for v in rows.values()] == [30, 6]
    records = {
        name: {json.dumps(r["metadata"], sort_keys=True) for r in split}
        for name, split in rows.items()
    }
    assert records["train.jsonl"].isdisjoint(records["validation.jsonl"])
    assert all(len(r["metadata"]["facts"]) == 3 for r in rows["train.jsonl"])


def test_the_judger_asks_one_question_per_fact_and_checks_its_input(monkeypatch, patient_module):
    from ajet_core.config.loader import load_config
    from ajet_core.config.plugin_sections import validate_plugin_sections
    from ajet_core.plugins.manager import get_plugin_manager
    from ajet_core.schema import Task
    from ajet_core.training.components import instantiate
    from ajet_core.workflow import WorkflowOutput

    monkeypatch.chdir(REPO)  # the YAML names the judger by its repository path
    config = load_config(TUTORIAL / "learn2ask.yaml", []).config
    judger = instantiate(validate_plugin_sections(config, get_plugin_manager())["judger"])
    assert judger.options.coverage_weight == 0.5 and judger.options.answer_key == "transcript"
    facts = {"fever": "No fever.", "location": "Behind my eyes."}
    task = Task(task_id="t", main_query="My head hurts.", metadata={"facts": facts})
    assert [(topic, weight) for topic, _, weight in judger.criteria(task)] == [
        ("fever", 1.0),
        ("location", 1.0),
        (None, 1.0),
    ]
    assert "whether they have a fever" in judger.criteria(task)[0][1]
    with pytest.raises(ValueError, match="no metadata\\['facts'\\]"):
        judger.criteria(Task(task_id="t"))
    with pytest.raises(ValueError, match="no metadata\\['revealed'\\]"):
        import asyncio

        asyncio.run(judger.ajudge(task, WorkflowOutput(metadata={"transcript": "x"})))


def replay(patient_module, record: dict) -> list[str]:
    """Check each patient reply in the recorded calls against the simulated patient's answer to
    the question before it; returns the topics it revealed."""
    patient = patient_module.Patient.from_case(record["task"]["metadata"])
    calls = record["calls"]
    for earlier, later in zip(calls, calls[1:]):
        question = earlier["reply"]["content"] or ""
        *_, asked, answered = later["messages"]
        assert asked == {"role": "assistant", "content": question}
        assert answered == {"role": "user", "content": patient.answer(question)}
    patient.answer(calls[-1]["reply"]["content"] or "")
    return patient.revealed


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a whole job in a subprocess plus a judge server, sized for load
def test_two_training_steps_judged_by_a_served_model(
    tmp_path, tiny_model_dir, smollm2_dir, ajet_serve, patient_module
):
    # The tiny random model never gives a Yes/No verdict (tests/ajet_plugins_std/
    # test_rubric_judge.py), so SmolLM2 is the judge and the tiny model the doctor.
    judge_conf = tmp_path / "judge.yaml"
    judge_conf.write_text(
        f"model:\n  path: {smollm2_dir}\n  max_model_len: 2048\nbackbone: debug\n"
    )
    judge_url = ajet_serve(judge_conf, "--model-name", "judge")
    data = tmp_path / "data"
    make_data(data, "--train", "12", "--held-out", "2", "--facts", "2")
    overrides = [
        f"model.path={tiny_model_dir}",
        f"task_reader.train_path={data / 'train.jsonl'}",
        f"task_reader.validation_path={data / 'validation.jsonl'}",
        f"experiment.output_dir={tmp_path / 'runs'}",
        f"judger.base_url={judge_url}",
        f"workflow.options.max_turns={MAX_TURNS}",
        "workflow.options.max_tokens=16",
        "rollout.max_tokens_per_call=16",
        "trainer.total_steps=2",
        "rollout.batch_size=2",
        "rollout.num_repeat=2",
        "rollout.equal_reward_groups=keep",
        "eval.before_train=false",
        "eval.after_train=false",
        "eval.every_n_steps=0",
        "logging.loggers=[jsonl]",
    ]
    result = subprocess.run(
        [sys.executable, "-m", "ajet_core.cli.main", "train", "--conf"]
        + [str(TUTORIAL / "learn2ask.yaml"), *overrides],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=1500,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [run_dir] = list((tmp_path / "runs").glob("*/*"))
    metrics = read_metrics(run_dir)
    rows = [r for r in metrics if m.EPISODES in r]
    assert [r["step"] for r in rows] == [1, 2]
    assert any(r.get(m.TRAIN_TOKENS, 0) > 0 and m.LOSS in r for r in metrics), metrics
    judged = 0
    for row in rows:
        records = list(read_records(run_dir / "records" / f"train_step_{row['step']:06d}.jsonl.gz"))
        assert len(records) == row[m.EPISODES] == 4
        unparsed = 0
        for record in records:
            # Multi-turn: one call per question, every one captured and merged into one sample.
            assert len(record["calls"]) == MAX_TURNS
            revealed = replay(patient_module, record)
            if record["error"] is not None:
                # The only failure allowed is a judge reply without a verdict, counted as such.
                assert "no YES/NO verdict" in record["error"], record["error"]
                unparsed += 1
                continue
            judged += 1
            scores = record["judger_metrics"]
            facts = record["task"]["metadata"]["facts"]
            assert scores["coverage"] == len(revealed) / len(facts)
            assert 0.0 <= scores["judge_score"] <= 1.0
            assert record["reward"] == pytest.approx(
                0.5 * scores["coverage"] + 0.5 * scores["judge_score"]
            )
            assert len(record["samples"]) == 1
        assert row[m.failed_metric(m.FAILED_JUDGER_ERROR)] == unparsed
        assert row[m.LLM_CALLS] == MAX_TURNS * len(records) and row[m.DRIFT_FALLBACKS] == 0
    assert judged > 0, "the judge gave no parsable verdict in any episode"
