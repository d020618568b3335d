"""Load AgentJet's own YAMLs (top-level ``ajet:`` section, Hydra ``defaults``).

Keys that have a counterpart are moved to it; every other key is reported as a warning naming the
key, never dropped silently. AgentJet's Hydra defaults are built into our models, so ``defaults``
and ``hydra`` are reported and ignored.
"""

from __future__ import annotations

from typing import Any

from ajet_core.config.models import AjetConfig

# AgentJet has used three names for its top-level section over time.
AGENTJET_ROOT_KEYS = ("ajet", "astuner", "astune")

# AgentJet dotted key (inside the root section) -> our dotted key.
DIRECT_MAPPING: dict[str, str] = {
    "project_name": "experiment.project",
    "experiment_name": "experiment.name",
    "backbone": "backbone.name",
    "model.path": "model.path",
    "data.train_batch_size": "rollout.batch_size",
    "data.max_response_length": "rollout.max_tokens_per_episode",
    "rollout.user_workflow": "workflow.name",
    "rollout.agentscope_learn_protocol": "workflow.name",
    "rollout.max_env_worker": "rollout.max_concurrency",
    "rollout.num_repeat": "rollout.num_repeat",
    "rollout.temperature": "rollout.temperature",
    "rollout.top_p": "rollout.top_p",
    "rollout.top_k": "rollout.top_k",
    "rollout.max_response_length_in_one_turn": "rollout.max_tokens_per_call",
    "rollout.max_model_len": "model.max_model_len",
    "rollout.val_kwargs.temperature": "eval.temperature",
    "trainer_common.logger": "logging.loggers",
    "trainer_common.save_freq": "checkpoint.every_n_steps",
    "trainer_common.test_freq": "eval.every_n_steps",
    "trainer_common.total_epochs": "trainer.total_epochs",
    "trainer_common.total_training_steps": "trainer.total_steps",
    "trainer_common.val_before_train": "eval.before_train",
    "trainer_common.val_pass_n": "eval.num_repeat",
    "trainer_common.val_max_num_task_each_validation": "eval.max_tasks",
    "trainer_common.ppo_epochs": "trainer.ppo_epochs",
    "trainer_common.optim.lr": "trainer.lr",
    "trainer_common.optim.weight_decay": "trainer.weight_decay",
    "trainer_common.optim.betas": "trainer.betas",
    "trainer_common.optim.grad_clip": "trainer.grad_clip",
    "trainer_common.optim.lr_warmup_steps": "trainer.warmup_steps",
    "lora.lora_rank": "trainer.lora.rank",
    "lora.lora_alpha": "trainer.lora.alpha",
}

# AgentJet task-reader types -> ours, with their option renames (AgentJet nested key -> ours).
READER_MAPPING: dict[str, tuple[str, dict[str, str]]] = {
    "huggingface_dat_repo": (
        "huggingface",
        {
            "dataset_path": "path",
            "training_split": "train_split",
            "validation_split": "validation_split",
        },
    ),
    "jsonl_dataset_file": (
        "jsonl",
        {"training.file_path": "train_path", "validation.file_path": "validation_path"},
    ),
    "dataset_file": (
        "jsonl",
        {"training.file_path": "train_path", "validation.file_path": "validation_path"},
    ),
    "env_service": (
        "env_service",
        {
            "env_url": "url",
            "env_type": "env_type",
            "training_split": "train_split",
            "validation_split": "validation_split",
        },
    ),
}

# AgentJet's built-in judge classes -> our registered judgers.
JUDGER_MAPPING: dict[str, str] = {
    "math_answer_as_judge": "math_answer",
    "env_service_as_judge": "env_service",
    "countdown_answer_as_judge": "countdown",
}


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, dict) or not data:
        return {prefix: data} if prefix else {}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, dotted))
        else:
            flat[dotted] = value
    return flat


def _set(target: dict[str, Any], dotted: str, value: Any) -> None:
    node = target
    *parents, last = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def is_agentjet_config(data: dict[str, Any]) -> bool:
    return any(key in data for key in AGENTJET_ROOT_KEYS) or "defaults" in data or "hydra" in data


def _translate_reader(
    section: dict[str, Any], out: dict[str, Any], warnings: list[str], root: str
) -> None:
    reader_type = section.get("type")
    if reader_type not in READER_MAPPING:
        warnings.append(
            f"{root}.task_reader.type={reader_type!r} has no counterpart; set task_reader.type to "
            "one of jsonl, huggingface, env_service, generated"
        )
        return
    our_type, renames = READER_MAPPING[reader_type]
    _set(out, "task_reader.type", our_type)
    for key, value in _flatten(section.get(reader_type) or {}).items():
        if key in renames:
            _set(out, f"task_reader.{renames[key]}", value)
        else:
            warnings.append(
                f"{root}.task_reader.{reader_type}.{key} is not applied (no counterpart)"
            )
    for other in section:
        if other not in ("type", reader_type):
            # Options for readers that are not selected: inert in AgentJet as well.
            warnings.append(
                f"{root}.task_reader.{other} is ignored (reader {reader_type!r} is selected)"
            )


def _translate_judger(
    section: dict[str, Any], out: dict[str, Any], warnings: list[str], root: str
) -> None:
    for key, value in _flatten(section).items():
        if key == "judge_protocol" and isinstance(value, str):
            module = value.replace("->", ":").split(":")[0].rsplit(".", 1)[-1]
            _set(out, "judger.type", JUDGER_MAPPING.get(module, value))
        elif key == "judge_type" and value == "customized_protocol":
            continue  # AgentJet's default: the protocol class decides, as judger.type does here.
        else:
            warnings.append(f"{root}.task_judge.{key}={value!r} is not applied (no counterpart)")


def translate_agentjet_config(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Return (our config data, warnings for every key that did not apply)."""
    out: dict[str, Any] = {}
    warnings: list[str] = []
    for key, value in data.items():
        if key in ("defaults", "hydra"):
            warnings.append(
                f"'{key}' is ignored: AgentJet's Hydra defaults are built into ajet's config models"
            )
        elif key in AGENTJET_ROOT_KEYS:
            continue
        elif key in AjetConfig.model_fields:
            out[key] = value  # already in our format
        else:
            warnings.append(
                f"top-level section '{key}' is not applied (it configures another backbone's "
                "internals; put backbone keys under 'backbone:')"
            )
    for root in AGENTJET_ROOT_KEYS:
        section = data.get(root)
        if not isinstance(section, dict):
            continue
        for key, value in section.items():
            if key == "task_reader" and isinstance(value, dict):
                _translate_reader(value, out, warnings, root)
            elif key == "task_judge" and isinstance(value, dict):
                _translate_judger(value, out, warnings, root)
            elif key == "experiment_dir":
                if value != "auto":
                    _set(out, "experiment.output_dir", value)
            else:
                for dotted, leaf in _flatten({key: value}).items():
                    if dotted in DIRECT_MAPPING:
                        _set(out, DIRECT_MAPPING[dotted], leaf)
                    elif dotted == "trainer_common.use_kl_loss":
                        continue  # folded into kl_loss_coef below
                    elif dotted == "trainer_common.kl_loss_coef":
                        use_kl = _flatten(section).get("trainer_common.use_kl_loss", True)
                        _set(out, "trainer.kl_coef", float(leaf) if use_kl else 0.0)
                    else:
                        warnings.append(f"{root}.{dotted}={leaf!r} is not applied (no counterpart)")
    return out, warnings
