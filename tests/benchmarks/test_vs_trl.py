"""The TRL race's own logic (benchmarks/vs_trl.py), without TRL: the settings mapping from the
real quickstart config, the time-to-accuracy summary, and the py-spy breakdown."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from ajet_core.config.loader import load_config

REPO = Path(__file__).resolve().parents[2]


def load_benchmark():
    name = "ajet_benchmark_vs_trl"
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / "vs_trl.py")
    module = importlib.util.module_from_spec(spec)
    # Registered first: dataclasses look their module up while the file executes.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


vs_trl = load_benchmark()


def quickstart(*overrides: str):
    return load_config(vs_trl.QUICKSTART, ["model.path=/unused", *overrides]).config


def test_settings_map_group_batch_lr_and_reply_length():
    config = quickstart(
        "rollout.batch_size=6",
        "rollout.num_repeat=3",
        "trainer.lr=2.5e-5",
        "rollout.max_tokens_per_call=48",
        "trainer.loss_agg=seq_mean",
        "trainer.lr_scheduler=cosine",
    )
    trl = vs_trl.trl_settings(config, save_every=5, output_dir="/out")
    # One AgentJet step = 6 tasks x 3 samples = one TRL generation batch = one optimizer step.
    assert trl["per_device_train_batch_size"] == 18
    assert trl["num_generations"] == 3
    assert trl["gradient_accumulation_steps"] == 1
    assert trl["learning_rate"] == 2.5e-5
    assert trl["lr_scheduler_type"] == "cosine"
    assert trl["max_completion_length"] == 48
    assert trl["loss_type"] == "grpo"  # per-sequence mean, as seq_mean
    assert trl["max_steps"] == 30  # the quickstart's trainer.total_steps
    assert trl["save_steps"] == 5
    assert trl["gradient_checkpointing"] is False


def test_quickstart_defaults_map_to_trl_terms():
    trl = vs_trl.trl_settings(quickstart(), save_every=10, output_dir="/out")
    assert trl["loss_type"] == "dapo"  # token_mean: one average over the step's tokens
    assert trl["top_k"] == 0  # AgentJet's -1 and TRL's 0 both mean "no top-k filter"
    assert trl["beta"] == 0.0  # kl_coef 0: TRL loads no reference model either
    assert trl["temperature"] == 1.0
    assert trl["model_init_kwargs"] == {"dtype": "float32"}


def test_settings_table_shows_both_sides():
    config = quickstart("rollout.num_repeat=6")
    rows = {
        row.what: row
        for row in vs_trl.settings_rows(
            config, vs_trl.trl_settings(config, save_every=5, output_dir="/o")
        )
    }
    assert rows["samples per task (group)"].ajet == "rollout.num_repeat=6"
    assert rows["samples per task (group)"].trl == "num_generations=6"
    assert rows["samples per optimizer step"].ajet == "48"
    assert "per_device_train_batch_size=48" in rows["samples per optimizer step"].trl


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("trainer.lora.rank=8", "trainer.lora.rank=8"),
        ("rollout.num_repeat=1", "rollout.num_repeat=1"),
    ],
)
def test_settings_trl_cannot_match_are_refused(override, named):
    with pytest.raises(ValueError, match=named):
        vs_trl.trl_settings(quickstart(override), save_every=5, output_dir="/out")


def points(trainer: str, *seconds_and_accuracy: tuple[float, float]) -> list:
    return [
        vs_trl.EvalPoint(trainer, step * 5, seconds, accuracy)
        for step, (seconds, accuracy) in enumerate(seconds_and_accuracy)
    ]


def test_time_to_accuracy_is_the_first_save_that_reaches_it():
    run = points("ajet", (0, 17 / 120), (110, 42 / 120), (230, 36 / 120), (350, 72 / 120))
    assert vs_trl.time_to_accuracy(run, 36 / 120).seconds == 110  # not the later 36/120
    assert vs_trl.time_to_accuracy(run, 72 / 120).seconds == 350
    assert vs_trl.time_to_accuracy(run, 17 / 120).seconds == 0  # the base model already does
    assert vs_trl.time_to_accuracy(run, 73 / 120) is None  # never reached: no extrapolation
    # Order of the list does not matter, only the times.
    assert vs_trl.time_to_accuracy(list(reversed(run)), 36 / 120).seconds == 110


def test_equal_accuracies_reached_by_different_arithmetic_count_as_reached():
    target = 0.1 + 0.2  # a target computed elsewhere: one ulp above 36/120
    assert 36 / 120 < target
    run = points("trl", (0, 0.1), (500, 36 / 120))
    assert vs_trl.time_to_accuracy(run, target).seconds == 500


def test_race_summary_targets_trl_final_accuracy_and_compares_first_times():
    # TRL peaks at 0.5, ends at 0.4 (first reached at 300 s); ajet reaches 0.4 at 120 s.
    trl = points("trl", (0, 0.15), (300, 0.4), (450, 0.5), (600, 0.4))
    ajet = points("ajet", (0, 0.15), (120, 0.45), (240, 0.7))
    summary = vs_trl.race_summary(ajet, trl)
    assert summary["target_accuracy"] == 0.4
    assert summary["trl_seconds_to_target"] == 300
    assert summary["trl_final_seconds"] == 600
    assert summary["ajet_seconds_to_target"] == 120
    assert summary["ajet_step_at_target"] == 5
    assert summary["time_ratio_ajet_over_trl"] == pytest.approx(0.4)
    assert summary["goal_met"] is True


def test_race_summary_when_ajet_never_reaches_trl():
    trl = points("trl", (0, 0.15), (400, 0.6))
    ajet = points("ajet", (0, 0.15), (200, 0.55))
    summary = vs_trl.race_summary(ajet, trl)
    assert summary["ajet_seconds_to_target"] is None
    assert summary["time_ratio_ajet_over_trl"] is None
    assert summary["goal_met"] is False
    slower = vs_trl.race_summary(points("ajet", (0, 0.15), (300, 0.6)), trl)
    assert slower["time_ratio_ajet_over_trl"] == pytest.approx(0.75)
    assert slower["goal_met"] is False  # faster, but not twice as fast


def test_race_summary_needs_both_trainers():
    with pytest.raises(ValueError, match="both trainers"):
        vs_trl.race_summary([], points("trl", (0, 0.1)))


def test_profile_buckets_sort_pyspy_stacks_by_phase():
    # py-spy's raw format: frames "function (file:line)" joined by ';', then the sample count.
    # Frames as py-spy printed them for a running `ajet train` and for TRL's generation.
    raw = "\n".join(
        [
            "_run (ajet_backbone_debug/engine/engine.py:270);_prefill "
            "(ajet_backbone_debug/engine/engine.py:288);forward (torch/nn/modules/linear.py:134) 6",
            "train (trl/trainer/grpo_trainer.py:900);"
            "generate (transformers/generation/utils.py:2400) 2",
            "train_step (ajet_backbone_debug/training/trainer.py:300);backward "
            "(torch/_tensor.py:630);_engine_run_backward (torch/autograd/graph.py:829) 1",
            "train_step (ajet_backbone_debug/training/trainer.py:310);"
            "step (torch/optim/adamw.py:200) 1",
            "save (ajet_core/training/checkpoints.py:40);save_checkpoint "
            "(ajet_backbone_debug/training/checkpoint.py:120) 3",
            "select (selectors.py:468) 3",
            "not a stack line",
        ]
    )
    shares = vs_trl.profile_buckets(raw)
    assert shares == {
        "generation": pytest.approx(8 / 16),
        "saving weights": pytest.approx(3 / 16),
        "other": pytest.approx(3 / 16),
        "backward": pytest.approx(1 / 16),
        "optimizer step": pytest.approx(1 / 16),
    }
    assert list(shares)[0] == "generation"  # largest first


def test_the_recorded_race_summary_follows_from_its_points():
    """benchmarks/results/vs_trl.json (the race published in benchmarks/README.md): its summary is
    what race_summary computes from its own eval points, and the README quotes that summary."""
    import json

    recorded = json.loads((REPO / "benchmarks" / "results" / "vs_trl.json").read_text())
    runs = {
        trainer: [vs_trl.EvalPoint(**point) for point in points]
        for trainer, points in recorded["points"].items()
    }
    summary = vs_trl.race_summary(runs["ajet"], runs["trl"])
    assert summary == pytest.approx(recorded["summary"])
    readme = (REPO / "benchmarks" / "README.md").read_text()
    ratio = summary["time_ratio_ajet_over_trl"]
    assert f"time ratio ajet/TRL: {ratio:.2f}; goal (<= 0.5) met: {summary['goal_met']}" in readme
