"""Load AgentJet's own YAMLs (top-level ``ajet:`` section, Hydra ``defaults``).

Keys that have a counterpart are moved to it; every other key is reported as a warning naming the
key, never dropped silently. AgentJet's Hydra defaults are built into our models, so ``defaults``
and ``hydra`` are reported and ignored.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from pathlib import Path
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
    "random_dummy": ("random_dummy", {}),
    # AgentJet's options sit under ``feedback_tracing`` (READER_SECTIONS); its filters name
    # hosted models and are reported, not translated (set ``llm_filter`` to filter).
    "tracing": ("tracing", {"base_url": "path"}),
}

# The section holding a reader's options when it is not named after the reader type.
READER_SECTIONS: dict[str, str] = {"tracing": "feedback_tracing"}

# Options our reader gets so that rows read as AgentJet's reader reads them: a row without the
# query field is kept with AgentJet's placeholder query (countdown's {nums, target} rows), its
# whole content in metadata.
READER_FIXED_OPTIONS: dict[str, dict[str, Any]] = {
    "huggingface_dat_repo": {"default_query": "Empty"},
    "jsonl_dataset_file": {"default_query": "[not defined]"},
    "dataset_file": {"default_query": "[not defined]"},
    # AgentJet's tracing reader puts 30% of the tasks in validation (train_ratio 0.7).
    "tracing": {"validation_fraction": 0.3},
}

# Judges inside AgentJet's own package (``ajet.task_judge.<module>``), which an AgentJet project
# cannot hold a copy of -> our registered judger and the options that make it score exactly as
# AgentJet's class does (same success rule, same reward formula).
JUDGER_MAPPING: dict[str, str] = {"env_service_as_judge": "env_service"}
JUDGER_MAPPING_OPTIONS: dict[str, dict[str, Any]] = {
    # AgentJet: success when the score is >= 1; reward 1 + 0.5 * score on success, else 0.5 * score.
    "env_service_as_judge": {"shaping": "agentjet", "success_threshold": 1.0},
}


@dataclass(frozen=True)
class PublishedJudge:
    """A judge file AgentJet's tutorials ship: the sha256 of every published version of it."""

    path: str
    runs_here: frozenset[str]  # versions importing only what ``ajet`` provides here
    older: frozenset[str]  # versions importing AgentJet's earlier package names (astuner ...)


# Derived from AgentJet's repository (modelscope/AgentJet, the files' git history). A project's
# copy of one of these runs unchanged, so its rewards are AgentJet's; nothing is substituted.
PUBLISHED_JUDGES: dict[str, PublishedJudge] = {
    "countdown_answer_as_judge": PublishedJudge(
        "tutorial/example_countdown/countdown_answer_as_judge.py",
        runs_here=frozenset({"42372bac80889c1a21a06f499064d142c2b745662fe29ba9f3cf23bc5a5b31bb"}),
        older=frozenset(
            {
                "8c367b3dc3bf0ff55b7fb97c2bb6f3c5d2d124ca9a7b46dbfa6e90191bf495dd",
                "cf8c79ae397f2727d5426d872779178d73f46cb0b45cba0638011894b625f12c",
            }
        ),
    ),
    "math_answer_as_judge": PublishedJudge(
        "tutorial/example_math_agent/math_answer_as_judge.py",
        runs_here=frozenset(
            {
                "e0fc69fd4e0b8b26d6c286ac13aab02c38fa452343a9f0adef2ca6d86846cfd7",
                "e0d8b2129b7b59e72a5302f187a721f72e70527fd5cf9d5084e337adfbd5973f",
            }
        ),
        older=frozenset(
            {
                "d049639ad3ae525f2f933897e738107ae74c8bcb1277f9af2e6ef71caec0e12d",
                "84b7a45e7032a91feae2fc2f773eeee9b92d78c60427c384d4bbc9959598edab",
            }
        ),
    ),
}

# Defaults of AgentJet's own config (its ajet_default.yaml) that workflows read through
# ``tuner.config`` and that have no counterpart here.
AGENTJET_DEFAULTS: dict[str, Any] = {
    "ajet": {
        "rollout": {
            "multi_turn": {"max_sample_per_task": 30, "max_steps": 30, "expected_steps": 1},
            "force_disable_toolcalls": False,
            "gamma": 1.0,
        },
        "task_judge": {
            "alien_llm_model": "qwen3-235b-a22b-instruct-2507",
            "alien_llm_response_length": 512,
        },
    }
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
    for key, value in READER_FIXED_OPTIONS.get(reader_type, {}).items():
        _set(out, f"task_reader.{key}", value)
    options_key = READER_SECTIONS.get(reader_type, reader_type)
    for key, value in _flatten(section.get(options_key) or {}).items():
        if key in renames:
            _set(out, f"task_reader.{renames[key]}", value)
        else:
            warnings.append(
                f"{root}.task_reader.{options_key}.{key} is not applied (no counterpart)"
            )
    for other in section:
        if other not in ("type", options_key):
            # Options for readers that are not selected: inert in AgentJet as well.
            warnings.append(
                f"{root}.task_reader.{other} is ignored (reader {reader_type!r} is selected)"
            )


def judge_file_candidates(module_part: str, base_dir: Path | None) -> list[Path]:
    """Where a judge's source file would be: a file path as given, or a module path under the
    launch folder and the config's folder (AgentJet resolves module paths from the launch
    folder)."""
    if module_part.endswith(".py") or "/" in module_part:
        relative = Path(module_part)
    else:
        relative = Path(*module_part.split(".")).with_suffix(".py")
    if relative.is_absolute():
        return [relative]
    roots = [Path.cwd()] + ([base_dir] if base_dir is not None else [])
    return [root / relative for root in roots]


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _judge_protocol(
    value: str, out: dict[str, Any], warnings: list[str], root: str, base_dir: Path | None
) -> None:
    from ajet_core.importing import split_object_path

    module_part, _ = split_object_path(value)
    name = Path(module_part).stem if module_part.endswith(".py") else module_part.rsplit(".")[-1]
    if module_part.startswith("ajet.") and name in JUDGER_MAPPING:
        # A judge inside AgentJet's package: our judger configured to score identically.
        _set(out, "judger.type", JUDGER_MAPPING[name])
        for key, option in JUDGER_MAPPING_OPTIONS.get(name, {}).items():
            _set(out, f"judger.{key}", option)
        return
    # Anything else is the project's own judge and runs as written: a module with one of
    # AgentJet's tutorial names is never swapped for a built-in (their rewards differ).
    _set(out, "judger.type", value)
    published = PUBLISHED_JUDGES.get(name)
    if published is None:
        return
    found = next((p for p in judge_file_candidates(module_part, base_dir) if p.is_file()), None)
    if found is None:
        warnings.append(
            f"{root}.task_judge.judge_protocol={value!r}: AgentJet's tutorial judge is not in "
            f"this project (looked for {module_part}); copy {published.path} from AgentJet's "
            "repository next to your workflow (it runs unchanged here), or pick a built-in "
            "judger (docs/judgers.md lists how their rewards differ)"
        )
        return
    digest = file_sha256(found)
    if digest in published.older:
        warnings.append(
            f"{found} is AgentJet's {published.path} from an earlier release that imports "
            "'astuner'/'agentscope_tuner': replace those imports with 'ajet' (AgentJet's current "
            "file runs here unchanged)"
        )
    elif digest not in published.runs_here:
        warnings.append(
            f"{found} differs from AgentJet's published {published.path}: your file is used as "
            "written (no built-in judger is substituted for it)"
        )


def _translate_judger(
    section: dict[str, Any],
    out: dict[str, Any],
    warnings: list[str],
    root: str,
    base_dir: Path | None,
) -> None:
    for key, value in _flatten(section).items():
        if key == "judge_protocol" and isinstance(value, str):
            _judge_protocol(value, out, warnings, root, base_dir)
        elif key == "judge_protocol" and value is None:
            continue  # no judge: the workflow returns its reward (FrozenLake, werewolves)
        elif key == "judge_type" and value == "customized_protocol":
            continue  # AgentJet's default: the protocol class decides, as judger.type does here.
        elif key.startswith("alien_llm_"):
            continue  # read by AgentJet's LLM judges through their config (tuner.config here)
        else:
            warnings.append(f"{root}.task_judge.{key}={value!r} is not applied (no counterpart)")


def translate_agentjet_config(
    data: dict[str, Any], *, base_dir: Path | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Return (our config data, warnings for every key that did not apply).

    ``base_dir`` is the config's folder (where a judge's file may be found besides the launch
    folder). The AgentJet document itself is kept in ``workflow.agentjet_config`` for
    ``tuner.config``.
    """
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
                f"top-level section '{key}' is not applied here (workflows still read it as "
                f"tuner.config.{key}; backbone internals go under 'backbone:')"
            )
    for root in AGENTJET_ROOT_KEYS:
        section = data.get(root)
        if not isinstance(section, dict):
            continue
        for key, value in section.items():
            if key == "task_reader" and isinstance(value, dict):
                _translate_reader(value, out, warnings, root)
            elif key == "task_judge" and isinstance(value, dict):
                _translate_judger(value, out, warnings, root, base_dir)
            elif key == "experiment_dir":
                if value != "auto":
                    _set(out, "experiment.output_dir", value)
            else:
                for dotted, leaf in _flatten({key: value}).items():
                    if dotted == "trainer_common.logger" and isinstance(leaf, str):
                        # AgentJet accepts one logger name as well as a list of them.
                        _set(out, DIRECT_MAPPING[dotted], [leaf])
                    elif dotted in DIRECT_MAPPING:
                        _set(out, DIRECT_MAPPING[dotted], leaf)
                    elif dotted == "trainer_common.use_kl_loss":
                        continue  # folded into kl_loss_coef below
                    elif dotted == "trainer_common.kl_loss_coef":
                        use_kl = _flatten(section).get("trainer_common.use_kl_loss", True)
                        _set(out, "trainer.kl_coef", float(leaf) if use_kl else 0.0)
                    elif dotted.startswith("rollout.multi_turn."):
                        continue  # read by AgentJet workflows through tuner.config
                    else:
                        warnings.append(f"{root}.{dotted}={leaf!r} is not applied (no counterpart)")
    kept = {k: copy.deepcopy(v) for k, v in data.items() if k not in ("defaults", "hydra")}
    workflow = out.setdefault("workflow", {})
    if isinstance(workflow, dict):
        workflow.setdefault("agentjet_config", kept)
    return out, warnings


# ----------------------------------------------------------------- tuner.config for workflows


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _read(config: AjetConfig, dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


class AgentJetConfigView:
    """Attribute access over an AgentJet-shaped config, as the Hydra object AgentJet hands its
    workflows (``tuner.config.ajet.rollout.multi_turn.max_steps``). Read-only; a missing key is
    an AttributeError that names it."""

    def __init__(self, data: dict[str, Any], path: str = "") -> None:
        object.__setattr__(self, "_data", data)
        object.__setattr__(self, "_path", path)

    def _child(self, key: str) -> Any:
        value = self._data[key]
        if isinstance(value, dict):
            return AgentJetConfigView(value, f"{self._path}.{key}" if self._path else key)
        return value

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        if key not in self._data:
            where = f"{self._path}.{key}" if self._path else key
            raise AttributeError(
                f"the AgentJet config has no key '{where}' (there: "
                f"{', '.join(sorted(map(str, self._data))) or 'nothing'}); add it to your YAML"
            )
        return self._child(key)

    def __setattr__(self, key: str, value: Any) -> None:
        raise TypeError("tuner.config is read-only; change the YAML or pass KEY=VALUE overrides")

    def __getitem__(self, key: str) -> Any:
        if key not in self._data:
            raise KeyError(key)
        return self._child(key)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Any:
        return iter(self._data)

    def get(self, key: str, default: Any = None) -> Any:
        return self._child(key) if key in self._data else default

    def keys(self) -> Any:
        return self._data.keys()

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._data)

    def __repr__(self) -> str:
        return f"AgentJetConfigView({self._path or 'root'}: {self._data!r:.200})"


def agentjet_view(config: AjetConfig) -> AgentJetConfigView:
    """The run's config as an AgentJet workflow reads it: AgentJet's defaults, then the AgentJet
    YAML the run came from (with its other top-level sections, e.g. ``frozen_lake``), then our
    effective values under AgentJet's names (so command-line overrides show)."""
    data = _merge(AGENTJET_DEFAULTS, config.workflow.agentjet_config or {})
    root = next((k for k in AGENTJET_ROOT_KEYS if isinstance(data.get(k), dict)), "ajet")
    effective: dict[str, Any] = {}
    for agentjet_key, ours in DIRECT_MAPPING.items():
        _set(effective, agentjet_key, copy.deepcopy(_read(config, ours)))
    data[root] = _merge(data.get(root) or {}, effective)
    if root != "ajet":
        data["ajet"] = data[root]
    return AgentJetConfigView(data)
