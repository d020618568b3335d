"""AgentJet config -> trinity config: accepted by trinity's own loader and validation, with the
impossible combinations rejected at load and pass-through keys merged or refused."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from ajet_backbone_trinity.advantage import AjetEpisodeAdvantage
from ajet_backbone_trinity.monitor import AjetRunMonitor
from ajet_backbone_trinity.translation import (
    TRINITY_SECTIONS,
    TranslationError,
    to_yaml,
    translate,
)
from ajet_backbone_trinity.workflow import AjetEpisodeWorkflow
from trinity.algorithm import ADVANTAGE_FN
from trinity.common.config import Config, load_config
from trinity.common.workflows import WORKFLOWS
from trinity.utils.monitor import MONITOR

from ajet_core.config.loader import validate_config
from ajet_core.config.plugin_sections import validate_plugin_sections
from ajet_core.errors import ConfigError
from ajet_core.plugins.manager import get_plugin_manager

from .helpers import REPO, quickstart_config

README = REPO / "ajet_backbone_trinity" / "README.md"


def translated(tmp_path: Path, ajet: dict):
    config = validate_config(ajet, base_dir=REPO)
    options = validate_plugin_sections(config, get_plugin_manager(), sections=("backbone",))[
        "backbone"
    ].options
    return config, translate(
        config, options, run_dir=tmp_path / "run", tasks_dir=tmp_path / "tasks"
    )


def trinity_loads(tmp_path: Path, translation) -> Config:
    path = tmp_path / "trinity.yaml"
    path.write_text(to_yaml(translation))
    config = load_config(str(path))
    config.check_and_update()  # trinity's validators; no Ray needed with the cluster shape given
    return config


@pytest.mark.parametrize(
    ("mode", "gpus", "expected"),
    [
        ("sync", 2, ("both", "fixed", 0)),
        ("one_step_off", 2, ("both", "fixed", 1)),
        ("fully_async", 2, ("both", "fully_async", 0)),
        ("colocate", 1, ("colocate", "fixed", 0)),
    ],
)
def test_every_mode_passes_trinitys_load_config_and_validation(
    tmp_path, tiny_model_dir, quickstart_data, mode, gpus, expected
):
    ajet = quickstart_config(
        tiny_model_dir,
        quickstart_data,
        backbone={"mode": mode, "gpus_per_node": gpus},
        eval={"before_train": mode != "fully_async"},
    )
    config, translation = translated(tmp_path, ajet)
    trinity = trinity_loads(tmp_path, translation)
    sync = trinity.synchronizer
    assert (trinity.mode, sync.sync_style.value, sync.sync_offset) == expected
    # What trinity's workers will resolve by dotted path.
    taskset = trinity.buffer.explorer_input.tasksets[0]
    assert WORKFLOWS.get(taskset.default_workflow_type) is AjetEpisodeWorkflow
    assert ADVANTAGE_FN.get(trinity.algorithm.advantage_fn) is AjetEpisodeAdvantage
    assert MONITOR.get(trinity.monitor.monitor_type) is AjetRunMonitor
    # The numbers that must agree with the AgentJet config.
    # GRPO; without a KL term, trinity's GRPO minus its reference model (see the test below).
    assert trinity.algorithm.algorithm_type == (
        "grpo"
        if config.trainer.kl_coef > 0
        else "ajet_backbone_trinity.sampling.AjetGRPONoReference"
    )
    assert trinity.algorithm.repeat_times == taskset.repeat_times == config.rollout.num_repeat
    assert trinity.buffer.batch_size == config.rollout.batch_size
    assert trinity.buffer.train_batch_size == config.rollout.batch_size * config.rollout.num_repeat
    assert trinity.explorer.max_repeat_times_per_runner is None  # one runner runs a whole group
    rollout_model = trinity.explorer.rollout_model
    assert rollout_model.model_path == str(tiny_model_dir)
    assert rollout_model.temperature == config.rollout.temperature
    assert rollout_model.max_response_tokens == config.rollout.max_tokens_per_call
    assert rollout_model.enable_prompt_truncation is False
    assert trinity.algorithm.optimizer.lr == config.trainer.lr
    assert trinity.algorithm.kl_loss_fn == "none"  # kl_coef 0
    assert taskset.workflow_args["ajet_mode"] == "train"
    assert taskset.workflow_args["ajet_config"]["workflow"]["name"].startswith(str(REPO))
    if mode != "fully_async":
        (eval_taskset,) = trinity.buffer.explorer_input.eval_tasksets
        assert (
            eval_taskset.workflow_args["ajet_mode"] == "eval" and eval_taskset.split == "validation"
        )
        assert trinity.explorer.eval_on_startup is True


@pytest.mark.parametrize(
    ("trainer", "sync_interval", "expected"),
    [
        ({"mode": "sync"}, 1, ("both", "fixed", 0, 0)),
        ({"mode": "async", "max_staleness": 0}, 1, ("both", "fixed", 0, 0)),
        ({"mode": "async", "max_staleness": 2}, 1, ("both", "fixed", 2, 2)),
        ({"mode": "async", "max_staleness": 3}, 2, ("both", "fixed", 2, 3)),
    ],
)
def test_trainer_mode_maps_onto_trinitys_sync_offset_and_its_staleness_bound(
    tmp_path, tiny_model_dir, quickstart_data, trainer, sync_interval, expected
):
    """The portable trainer.mode / max_staleness: the explorer runs ahead by sync_offset, and
    sync_offset + sync_interval - 1 (the oldest experience trinity's read keeps) is the bound."""
    ajet = quickstart_config(
        tiny_model_dir,
        quickstart_data,
        backbone={"gpus_per_node": 2, "sync_interval": sync_interval},
        trainer=trainer,
    )
    _, translation = translated(tmp_path, ajet)
    trinity = trinity_loads(tmp_path, translation)
    sync = trinity.synchronizer
    bound = trinity.algorithm.sample_strategy_args["max_staleness"]
    assert (trinity.mode, sync.sync_style.value, sync.sync_offset, bound) == expected
    assert sync.sync_interval == sync_interval
    assert translation.sources["synchronizer.sync_offset"].startswith(
        f"trainer.mode={trainer['mode']}"
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"trainer": {"mode": "async"}, "backbone": {"mode": "one_step_off"}},
            "trainer.mode='async' and backbone.mode='one_step_off' are both set",
        ),
        (
            {"trainer": {"mode": "async", "max_staleness": 1}, "backbone": {"sync_interval": 3}},
            "raise trainer.max_staleness or lower backbone.sync_interval",
        ),
    ],
)
def test_trainer_mode_conflicts_are_refused_with_the_way_out(
    tmp_path, tiny_model_dir, quickstart_data, changes, message
):
    ajet = quickstart_config(tiny_model_dir, quickstart_data, **changes)
    with pytest.raises(TranslationError, match=re.escape(message)):
        translated(tmp_path, ajet)


def test_trinitys_top_level_sections_are_the_ones_we_allow():
    assert set(TRINITY_SECTIONS) == {f.name for f in dataclasses.fields(Config)}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"backbone": {"mode": "fully_async"}, "eval": {"every_n_steps": 5}},
            "backbone.mode 'fully_async' cannot evaluate",
        ),
        (
            {"backbone": {"mode": "colocate", "gpus_per_node": 2}},
            "'colocate' runs on exactly one GPU",
        ),
        ({"backbone": {"rollout_engines": 2}}, "leaves none of the 2 GPUs for the trainer"),
        (
            {"rollout": {"num_repeat": 1}},
            "rollout.num_repeat=1 is below rollout.min_valid_group_size=2",
        ),
        ({"trainer": {"ppo_epochs": 2}}, "trainer.ppo_epochs=2"),
        ({"trainer": {"lr_scheduler": "linear"}}, "trainer.lr_scheduler 'linear'"),
        ({"trainer": {"lora": {"rank": 8, "dropout": 0.1}}}, "trainer.lora.dropout=0.1"),
        ({"model": {"path": "/models/smollm2.gguf"}}, "is a GGUF file"),
    ],
)
def test_impossible_combinations_are_rejected_with_the_reason(
    tmp_path, tiny_model_dir, quickstart_data, changes, message
):
    ajet = quickstart_config(tiny_model_dir, quickstart_data, **changes)
    with pytest.raises(TranslationError, match=re.escape(message)):
        translated(tmp_path, ajet)


def test_pass_through_keys_reach_trinity(tmp_path, tiny_model_dir, quickstart_data):
    ajet = quickstart_config(
        tiny_model_dir,
        quickstart_data,
        backbone={
            "explorer": {"runner_prepare_concurrency": 4},
            "trainer": {
                "trainer_config": {
                    "actor_rollout_ref": {"actor": {"entropy_from_logits_with_chunking": True}}
                }
            },
            # the same value the translation derives is no contradiction
            "algorithm": {"repeat_times": 4},
        },
    )
    _, translation = translated(tmp_path, ajet)
    trinity = trinity_loads(tmp_path, translation)
    assert trinity.explorer.runner_prepare_concurrency == 4
    assert (
        trinity.trainer.trainer_config["actor_rollout_ref"]["actor"][
            "entropy_from_logits_with_chunking"
        ]
        is True
    )


def test_a_pass_through_value_contradicting_an_ajet_key_names_that_key(
    tmp_path, tiny_model_dir, quickstart_data
):
    ajet = quickstart_config(
        tiny_model_dir, quickstart_data, backbone={"algorithm": {"repeat_times": 8}}
    )
    with pytest.raises(
        TranslationError,
        match=(
            r"backbone\.algorithm\.repeat_times=8 contradicts 4, "
            r"which comes from rollout\.num_repeat"
        ),
    ):
        translated(tmp_path, ajet)


def test_an_unknown_backbone_key_is_a_config_error(tmp_path, tiny_model_dir, quickstart_data):
    ajet = quickstart_config(tiny_model_dir, quickstart_data, backbone={"explorr": {}})
    with pytest.raises(ConfigError, match="unknown key.*explorr"):
        translated(tmp_path, ajet)


def test_a_batch_that_does_not_divide_over_the_trainer_gpus_is_refused(
    tmp_path, tiny_model_dir, quickstart_data
):
    # 4 GPUs, 1 for vLLM: 3 trainer GPUs; 2 tasks x 4 episodes = 8 experiences per step. Rounding
    # up to 9 would leave every step one experience short, and trinity's trainer would wait.
    ajet = quickstart_config(tiny_model_dir, quickstart_data, backbone={"gpus_per_node": 4})
    with pytest.raises(
        ConfigError, match="8 experiences per step is not a multiple of the 3 trainer GPUs"
    ):
        translated(tmp_path, ajet)


def test_literal_interpolation_syntax_in_our_config_survives_trinity(
    tmp_path, tiny_model_dir, quickstart_data
):
    ajet = quickstart_config(tiny_model_dir, quickstart_data)
    ajet["workflow"]["options"] = {"template": "Solve ${question}"}
    _, translation = translated(tmp_path, ajet)
    # Without escaping, trinity's load_config fails: "Interpolation key 'question' not found".
    args = trinity_loads(tmp_path, translation).buffer.explorer_input.tasksets[0].workflow_args
    assert args["ajet_config"]["workflow"]["options"]["template"] == "Solve ${question}"


def test_the_readme_mapping_table_lists_every_translated_key(
    tmp_path, tiny_model_dir, quickstart_data
):
    ajet = quickstart_config(
        tiny_model_dir, quickstart_data, eval={"before_train": True}, trainer={"lora": {"rank": 8}}
    )
    _, translation = translated(tmp_path, ajet)
    cpu = quickstart_config(tiny_model_dir, quickstart_data, eval={"before_train": True})
    cpu["backbone"] = {"name": "trinity", "rollout_engine": "cpu"}
    _, cpu_translation = translated(tmp_path, cpu)
    table = README.read_text()
    keys = {**translation.sources, **cpu_translation.sources}
    missing = [key for key in keys if f"`{key}`" not in table]
    assert missing == [], f"add these trinity keys to the mapping table in {README}"


def test_loading_the_backbone_and_translating_imports_no_trinity_ray_or_torch():
    # The CLI validates the backbone section before anything runs; that must stay cheap.
    from ajet_core.testing.environment import run_python

    result = run_python(
        "import sys\nfrom ajet_core.plugins.manager import get_plugin_manager\nbackbone = "
        "get_plugin_manager().load_object('backbone', 'trinity')\nimport "
        "ajet_backbone_trinity.translation, "
        "ajet_backbone_trinity.launch\nprint(backbone.config_model.__name__)\nprint(sorted(m for m "
        "in ('trinity', 'ray', 'torch', 'vllm', 'verl', 'transformers') if m in sys.modules))\n"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-2:] == ["TrinityBackboneConfig", "[]"]


@pytest.mark.parametrize("kl_coef", [0.0, 0.01])
def test_the_reference_model_runs_only_when_a_kl_term_uses_it(
    tmp_path, tiny_model_dir, quickstart_data, kl_coef
):
    """Trinity's verl trainer builds and runs a reference model when the algorithm type says
    ``use_reference`` (trainer/verl/trainer.py:253, :533); with no KL term nothing reads it."""
    from trinity.algorithm import ALGORITHM_TYPE

    ajet = quickstart_config(tiny_model_dir, quickstart_data, trainer={"kl_coef": kl_coef})
    _, translation = translated(tmp_path, ajet)
    trinity = trinity_loads(tmp_path, translation)
    algorithm = ALGORITHM_TYPE.get(trinity.algorithm.algorithm_type)  # as trinity's trainer does
    assert algorithm.use_reference is (kl_coef > 0)
    assert (trinity.algorithm.kl_loss_fn != "none") is (kl_coef > 0)
    # Otherwise the same GRPO: advantages before the trainer, on the experience schema.
    assert not algorithm.compute_advantage_in_trainer and algorithm.schema == "experience"
    assert trinity.algorithm.advantage_fn == "ajet_backbone_trinity.advantage.AjetEpisodeAdvantage"


@pytest.mark.parametrize(
    ("mode", "sync_interval", "max_staleness"),
    [("sync", 1, 0), ("one_step_off", 1, 1), ("one_step_off", 3, 3), ("fully_async", 1, None)],
)
def test_the_trainer_reads_within_the_staleness_its_mode_allows(
    tmp_path, tiny_model_dir, quickstart_data, mode, sync_interval, max_staleness
):
    from ajet_backbone_trinity.sampling import AjetSampleStrategy
    from trinity.algorithm import SAMPLE_STRATEGY

    ajet = quickstart_config(
        tiny_model_dir,
        quickstart_data,
        backbone={"mode": mode, "sync_interval": sync_interval, "gpus_per_node": 2},
    )
    _, translation = translated(tmp_path, ajet)
    trinity = trinity_loads(tmp_path, translation)
    assert SAMPLE_STRATEGY.get(trinity.algorithm.sample_strategy) is AjetSampleStrategy
    assert trinity.algorithm.sample_strategy_args == {"max_staleness": max_staleness}


@pytest.mark.parametrize("mode", ["sync", "one_step_off", "fully_async"])
def test_the_cpu_engine_translates_to_a_config_trinity_validates(
    tmp_path, tiny_model_dir, quickstart_data, mode
):
    ajet = quickstart_config(tiny_model_dir, quickstart_data, backbone={"mode": mode})
    ajet["backbone"] = {"name": "trinity", "rollout_engine": "cpu", "mode": mode}
    _, translation = translated(tmp_path, ajet)
    trinity = trinity_loads(tmp_path, translation)  # the cluster shape is the mode's own
    rollout_model = trinity.explorer.rollout_model
    assert (rollout_model.engine_type, rollout_model.dtype) == ("cpu", "float32")
    assert not rollout_model.extra_engine_args  # vLLM's options go nowhere
    assert trinity.synchronizer.sync_method.value == "checkpoint"
    assert (trinity.cluster.node_num, trinity.cluster.gpu_per_node) == (1, 2)
    assert trinity.trainer.use_remove_padding is False
    actor_rollout_ref = trinity.trainer.trainer_config["actor_rollout_ref"]
    assert actor_rollout_ref["model"]["override_config"]["attn_implementation"] == "sdpa"
    assert actor_rollout_ref["actor"]["use_torch_compile"] is False


@pytest.mark.parametrize(
    ("backbone", "message"),
    [
        ({"gpus_per_node": 4}, "backbone.gpus_per_node=4: with rollout_engine 'cpu' it is 2"),
        ({"rollout_engines": 2}, "backbone.rollout_engines=2: with rollout_engine 'cpu' it is 1"),
        ({"mode": "colocate"}, "with rollout_engine 'cpu' use mode sync"),
    ],
)
def test_a_cluster_shape_the_cpu_engine_cannot_have_is_refused(
    tmp_path, tiny_model_dir, quickstart_data, backbone, message
):
    ajet = quickstart_config(tiny_model_dir, quickstart_data)
    ajet["backbone"] = {"name": "trinity", "rollout_engine": "cpu", **backbone}
    with pytest.raises(ConfigError, match=re.escape(message)):
        translated(tmp_path, ajet)


def test_lora_is_refused_with_the_cpu_engine(tmp_path, tiny_model_dir, quickstart_data):
    ajet = quickstart_config(tiny_model_dir, quickstart_data, trainer={"lora": {"rank": 8}})
    ajet["backbone"] = {"name": "trinity", "rollout_engine": "cpu"}
    with pytest.raises(TranslationError, match="the CPU rollout engine loads full weights only"):
        translated(tmp_path, ajet)
