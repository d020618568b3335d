"""The ajet config onto verl's real Hydra config: composed from verl's ``ppo_trainer.yaml`` and
accepted by verl's own ``validate_config``; the refusals; the README's table; the CPU guard;
discovery through verl's entry points; the GPU smoke script's dry run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ajet_core.errors import AjetError, ConfigError

from .helpers import REPO, make_addition_data, prepare, write_config


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_addition_data(tmp_path_factory.mktemp("addition"))


def test_translated_config_is_verl_valid_and_carries_our_values(tmp_path, tiny_model_dir, data):
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    config_path = write_config(
        tmp_path,
        tiny_model_dir,
        data,
        trainer={"total_steps": 7, "lr": 3e-6, "kl_coef": 0.01, "loss_agg": "seq_mean"},
        backbone={
            "name": "verl",
            "n_gpus_per_node": 4,
            "actor_rollout_ref": {"actor": {"entropy_coeff": 0.002}},
            "trainer.log_val_generations": 3,
            "ray_address": "auto",
        },
    )
    _, prepared = prepare(config_path)
    cfg = prepared.verl_config
    validate_config(
        config=cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg)
    )
    assert cfg.actor_rollout_ref.model.path == str(tiny_model_dir.resolve())
    assert (cfg.data.train_batch_size, cfg.actor_rollout_ref.rollout.n) == (2, 2)
    assert cfg.trainer.total_training_steps == 7 and cfg.actor_rollout_ref.actor.optim.lr == 3e-6
    assert (
        cfg.actor_rollout_ref.actor.use_kl_loss and cfg.actor_rollout_ref.actor.kl_loss_coef == 0.01
    )
    assert cfg.actor_rollout_ref.actor.loss_agg_mode == "seq-mean-token-mean"
    assert cfg.algorithm.adv_estimator == "ajet" and not cfg.algorithm.use_kl_in_reward
    assert cfg.actor_rollout_ref.rollout.agent.default_agent_loop == "ajet"
    assert cfg.trainer.n_gpus_per_node == 4
    assert cfg.actor_rollout_ref.actor.optim.clip_grad == 1.0  # what verl's engines clip with
    assert cfg.ray_kwargs.ray_init.address == "auto"  # join the running cluster
    # Passed through: nested and dotted verl keys alike.
    assert (
        cfg.actor_rollout_ref.actor.entropy_coeff == 0.002 and cfg.trainer.log_val_generations == 3
    )
    # The run folder verl reads from.
    files = prepared.run_dir / "verl"
    assert {p.name for p in files.iterdir()} >= {
        "train.parquet",
        "validation.parquet",
        "agent_loops.yaml",
        "verl_config.yaml",
    }
    assert prepared.task_counts == {"train": 2380, "validation": 120}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("rollout.equal_reward_groups=refill", "refill"),
        ("trainer.mode=async", "trainer.mode='async' is not available under the verl backbone"),
        ("rollout.num_repeat=1", "min_valid_group_size"),
        ("trainer.lr_scheduler=linear", "constant"),
        ("backbone.algorithm.adv_estimator=grpo", "sets algorithm.adv_estimator='ajet' itself"),
        ("backbone.actor_rollout_ref.actor.no_such_key=1", "verl refused the translated config"),
        ("rollout.batch_size=5000", "fewer than rollout.batch_size"),
        ("backbone.strategy=megatron", "strategy"),
        ("backbone.trainer.use_v1=false backbone.agent_workers=3", "multiple of agent_workers"),
    ],
)
def test_impossible_combinations_are_refused_with_the_reason(
    tmp_path, tiny_model_dir, data, override, message
):
    with pytest.raises(ConfigError, match=message):
        prepare(write_config(tmp_path, tiny_model_dir, data), *override.split())


def test_the_readme_table_matches_the_translation():
    from ajet_backbone_verl.translation import MAPPING, OWNED

    readme = (REPO / "ajet_backbone_verl" / "README.md").read_text()
    for ajet_key, verl_keys in MAPPING.items():
        row = f"| `{ajet_key}` | " + ", ".join(f"`{k}`" for k in verl_keys) + " |"
        assert row in readme, f"README row missing or stale: {row}"
    for key in OWNED:
        assert f"| `{key}` |" in readme


def test_verl_finds_the_agent_loop_and_estimator_through_its_entry_points():
    # A fresh interpreter: nothing of ours imported, only `import verl`.
    script = (
        "import verl\n"
        "from verl.experimental.agent_loop.agent_loop import _agent_loop_registry\n"
        "from verl.trainer.ppo.core_algos import get_adv_estimator_fn\n"
        "print(_agent_loop_registry['ajet']['_target_'], get_adv_estimator_fn('ajet').__module__)\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert shown.stdout.split() == [
        "ajet_backbone_verl.agent_loop.AjetAgentLoop",
        "ajet_backbone_verl.advantage",
    ]


def test_training_on_a_machine_without_gpu_stops_before_starting(tmp_path, tiny_model_dir, data):
    backbone, _ = prepare(write_config(tmp_path, tiny_model_dir, data))
    with pytest.raises(AjetError, match="GPU"):
        backbone.train(resolved={})


def test_smoke_script_dry_run(tmp_path, tiny_model_dir):
    result = subprocess.run(
        [
            str(REPO / "scripts/gpu/verl_smoke.sh"),
            "--dry-run",
            "--model",
            str(tiny_model_dir),
            "--output-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "verl backbone environment: ok" in result.stdout
    assert "adv_estimator=ajet" in result.stdout and "agent loop=ajet" in result.stdout
    [verl_config] = tmp_path.glob("runs/quickstart/*/verl/verl_config.yaml")
    assert "default_agent_loop: ajet" in verl_config.read_text()


def test_resume_reuses_the_run_folder_and_verl_checkpoints(tmp_path, tiny_model_dir, data):
    backbone, prepared = prepare(write_config(tmp_path, tiny_model_dir, data))
    resumed = backbone._resume(prepared.run_dir)
    assert resumed.run_dir == prepared.run_dir
    assert resumed.verl_config.trainer.resume_mode == "auto"
    assert resumed.verl_config.trainer.default_local_dir == str(prepared.run_dir / "checkpoints")
    with pytest.raises(ConfigError, match="neither a verl run folder"):
        backbone._resume(tmp_path)


def test_the_cpu_engine_sets_what_verl_needs_on_a_cpu(tmp_path, tiny_model_dir, data):
    from ajet_backbone_verl.cpu import settings
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    _, prepared = prepare(
        write_config(tmp_path, tiny_model_dir, data), "backbone.rollout_engine=cpu"
    )
    cfg = prepared.verl_config
    validate_config(
        config=cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg)
    )
    arr = cfg.actor_rollout_ref
    assert arr.rollout.name == settings.ROLLOUT_NAME and arr.actor.strategy == "fsdp2"
    assert arr.model.override_config.attn_implementation == "sdpa"  # not flash-attention
    assert not arr.actor.use_torch_compile and not arr.ref.fsdp_config.use_torch_compile
    assert (cfg.trainer.device, cfg.trainer.n_gpus_per_node, cfg.trainer.nnodes) == ("cpu", 1, 1)
    assert arr.rollout.agent.num_workers == 1 and cfg.reward.num_workers == 1
    assert cfg.data.dataloader_num_workers == 0
    assert cfg.transfer_queue.backend.SimpleStorage.num_data_storage_units == 1
    # An explicit number of agent-loop workers is kept.
    _, prepared = prepare(
        write_config(tmp_path, tiny_model_dir, data),
        "backbone.rollout_engine=cpu",
        "backbone.agent_workers=2",
    )
    assert prepared.verl_config.actor_rollout_ref.rollout.agent.num_workers == 2


def test_the_cpu_engine_trains_without_a_gpu_and_the_others_do_not():
    from ajet_backbone_verl.backbone import require_training_environment

    require_training_environment("cpu")  # no GPU, no vLLM here: nothing to refuse
    with pytest.raises(AjetError, match="backbone.rollout_engine=cpu"):
        require_training_environment("vllm")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("backbone.n_gpus_per_node=2", "with backbone.rollout_engine=cpu it is 1"),
        ("backbone.strategy=fsdp", "with backbone.rollout_engine=cpu it is 'fsdp2'"),
        ("trainer.lora.rank=8", "takes no LoRA"),
        ("backbone.ray_address=auto", "drop ray_address"),
    ],
)
def test_cpu_engine_refuses_what_it_cannot_do(tmp_path, tiny_model_dir, data, override, message):
    with pytest.raises(ConfigError, match=message):
        prepare(
            write_config(tmp_path, tiny_model_dir, data), "backbone.rollout_engine=cpu", override
        )


def test_settings_verl_would_ignore_are_mapped_or_refused(tmp_path, tiny_model_dir, data):
    _, prepared = prepare(
        write_config(tmp_path, tiny_model_dir, data), "eval.max_tasks=7", "model.dtype=float16"
    )
    cfg = prepared.verl_config
    assert cfg.data.val_max_samples == 7
    assert cfg.actor_rollout_ref.rollout.dtype == "float16"
    _, prepared = prepare(write_config(tmp_path, tiny_model_dir, data))
    assert prepared.verl_config.data.val_max_samples == -1  # every validation task
    with pytest.raises(ConfigError, match="no dropout"):
        prepare(write_config(tmp_path, tiny_model_dir, data), "trainer.lora.dropout=0.1")


def test_total_steps_beyond_the_data_end_where_the_data_ends(tmp_path, tiny_model_dir, data):
    # verl saves its final checkpoint and validates only on the step it counts as the last; with
    # more steps than the epochs hold its loop would end by the epoch condition, doing neither.
    _, prepared = prepare(
        write_config(tmp_path, tiny_model_dir, data),
        "trainer.total_steps=5000",
        "trainer.total_epochs=1",
        "checkpoint.every_n_steps=0",
    )
    assert prepared.task_counts["train"] == 2380
    assert prepared.verl_config.trainer.total_training_steps == 2380 // 2
    assert any("training ends after step 1190" in w for w in prepared.warnings)
    _, prepared = prepare(write_config(tmp_path, tiny_model_dir, data), "trainer.total_steps=7")
    assert prepared.verl_config.trainer.total_training_steps == 7


def test_workflow_files_named_relative_to_the_config_work_from_any_folder(
    tmp_path, tiny_model_dir, data, monkeypatch
):
    from ajet_core.config.loader import load_config
    from ajet_core.importing import import_object

    conf = tmp_path / "conf"
    conf.mkdir()
    shutil.copy(Path(__file__).with_name("two_agents.py"), conf / "two_agents.py")
    config_path = write_config(
        conf, tiny_model_dir, data, workflow="two_agents.py:SolverAndChecker"
    )
    _, prepared = prepare(config_path)
    # verl's workers load the run's copy of the config and work in the driver's folder.
    monkeypatch.chdir(tmp_path)
    worker_config = load_config(str(prepared.run_dir / "config.yaml"), []).config
    assert worker_config.workflow.name == f"{conf / 'two_agents.py'}:SolverAndChecker"
    workflow = import_object(worker_config.workflow.name, base_dir=worker_config.base_dir)
    assert workflow.__name__ == "SolverAndChecker"


def test_resume_from_a_checkpoint_folder_forgets_the_later_steps(tmp_path, tiny_model_dir, data):
    import json

    backbone, prepared = prepare(write_config(tmp_path, tiny_model_dir, data))
    run_dir = prepared.run_dir
    step_one = run_dir / "checkpoints" / "global_step_1"
    (step_one / "actor").mkdir(parents=True)
    (run_dir / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, "rollout/episodes": 8}) + "\n" for s in (1, 2))
    )
    for step in (1, 2):
        (run_dir / "verl" / "episodes" / f"train_step_{step:06d}").mkdir(parents=True)
    resumed = backbone._resume(step_one)
    assert resumed.run_dir == run_dir
    assert resumed.verl_config.trainer.resume_mode == "resume_path"
    assert resumed.verl_config.trainer.resume_from_path == str(step_one)
    metrics = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in metrics] == [1]
    assert [p.name for p in (run_dir / "verl" / "episodes").iterdir()] == ["train_step_000001"]
    (run_dir / "checkpoints" / "global_step_3").mkdir()
    with pytest.raises(ConfigError, match="no verl actor checkpoint"):
        backbone._resume(run_dir / "checkpoints" / "global_step_3")
