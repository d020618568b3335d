"""``AgentJetJob``: build a training job in Python and run it as ``ajet train`` would.

    from ajet import AgentJetJob

    job = AgentJetJob(backbone="debug", model="path/to/model")
    job.set_workflow("agents.math_agent->MathAgent")      # or the class itself
    job.set_data("jsonl", "data/train.jsonl", validation_path="data/val.jsonl")
    job.set_judger("math_answer")                         # or a BaseJudge subclass
    job.override("rollout.num_repeat", 4)                 # any key of ours, dotted
    job.dump_job_as_yaml("job.yaml")                      # `ajet train --conf job.yaml` runs it
    result = job.tune()                                   # result.run_dir, result.metrics

The job is a config in our format, validated by the same loader as the CLI's. ``tune()`` runs the
CLI's train command on it: in this process for the in-process ``debug`` backbone, in a child
``ajet train`` for the backbones that drive their own processes (verl, trinity), which also
keeps this process free of their Ray and CUDA state. AgentJet's constructor arguments (``n_gpu``,
``n_gpu_for_infer``, ``algorithm``) map to our backbone options.
"""

from __future__ import annotations

import argparse
import copy
import inspect
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ajet_core.config.loader import load_config
from ajet_core.config.models import AjetConfig
from ajet_core.errors import ConfigError

# Backbones whose training runs in the calling process.
IN_PROCESS_BACKBONES = frozenset({"debug"})
# AgentJet's reader type names -> ours.
READER_TYPES = {
    "hf": "huggingface",
    "huggingface": "huggingface",
    "huggingface_dat_repo": "huggingface",
    "jsonl": "jsonl",
    "jsonl_dataset_file": "jsonl",
    "dataset_file": "jsonl",
    "dummy": "random_dummy",
    "random_dummy": "random_dummy",
}


@dataclass
class TuneResult:
    """What ``tune()`` returns: the run's folder and the metrics of its last step."""

    run_dir: Path
    metrics: dict[str, Any] = field(default_factory=dict)
    config_path: Path | None = None


def object_path(obj: str | type) -> str:
    """``module:Qualname`` for a class (its file's path when it lives in the ``__main__`` script,
    which a child process cannot import by name); strings are returned as given."""
    if isinstance(obj, str):
        return obj
    if not inspect.isclass(obj):
        raise TypeError(f"expected a class or an object path string, got {obj!r}")
    module = obj.__module__
    if module == "__main__" or module.startswith("ajet_user_"):
        return f"{Path(inspect.getfile(obj)).resolve()}:{obj.__qualname__}"
    return f"{module}:{obj.__qualname__}"


def last_step_metrics(run_dir: Path) -> dict[str, Any]:
    """Every metric logged for the run's last step (training and evaluation rows merged)."""
    from ajet_core.metric_loggers.jsonl import read_metrics

    rows = read_metrics(run_dir)
    if not rows:
        return {}
    last = max(int(row.get("step", 0)) for row in rows)
    merged: dict[str, Any] = {}
    for row in rows:
        if int(row.get("step", 0)) == last:
            merged.update(row)
    return merged


class AgentJetJob:
    """A training job built in Python (AgentJet's ``ajet.copilot.job.AgentJetJob``)."""

    def __init__(
        self,
        backbone: str = "debug",
        model: str | None = None,
        n_gpu: int | None = None,
        algorithm: str = "grpo",
        n_gpu_for_infer: int | None = None,
        *,
        base_config: str | Path | None = None,
        experiment_name: str | None = None,
        output_dir: str | Path | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> None:
        if algorithm.lower() != "grpo":
            raise ConfigError(
                f"AgentJetJob(algorithm={algorithm!r}): this version trains with GRPO-style group "
                "advantages only; use algorithm='grpo'"
            )
        self.base_config = Path(base_config).resolve() if base_config is not None else None
        self.data: dict[str, Any] = {}
        if self.base_config is not None:
            # The YAML as the CLI would read it (AgentJet's format is translated here too).
            self.data = _plain(load_config(self.base_config).config)
        self.override("backbone.name", backbone)
        if model is not None:
            self.override("model.path", str(model))
        if experiment_name is not None:
            self.override("experiment.name", experiment_name)
        if output_dir is not None:
            self.override("experiment.output_dir", str(Path(output_dir).resolve()))
        self._set_gpus(backbone, n_gpu, n_gpu_for_infer)
        for key, value in (overrides or {}).items():
            self.override(key, value)

    # ------------------------------------------------------------------------ building

    def _set_gpus(self, backbone: str, n_gpu: int | None, n_gpu_for_infer: int | None) -> None:
        if n_gpu_for_infer is not None and backbone != "trinity":
            raise ConfigError(
                f"n_gpu_for_infer is a trinity option (vLLM engines beside the trainer); "
                f"backbone {backbone!r} shares its GPUs: leave it out"
            )
        if n_gpu is None:
            return
        if backbone == "verl":
            self.override("backbone.n_gpus_per_node", n_gpu)
        elif backbone == "trinity":
            self.override("backbone.gpus_per_node", n_gpu)
            if n_gpu_for_infer is not None:
                if not 0 < n_gpu_for_infer < n_gpu:
                    raise ConfigError(
                        f"n_gpu_for_infer={n_gpu_for_infer} must be between 1 and n_gpu-1 "
                        f"({n_gpu - 1}): the trainer needs the rest"
                    )
                self.override("backbone.rollout_engines", n_gpu_for_infer)
                self.override("backbone.tensor_parallel_size", 1)
        elif n_gpu > 1:
            raise ConfigError(
                f"AgentJetJob(n_gpu={n_gpu}) with backbone {backbone!r}: it trains on one device; "
                "use backbone='verl' or 'trinity' for several GPUs"
            )

    def override(self, key: str, value: Any) -> AgentJetJob:
        """Set one dotted config key of ours (``rollout.num_repeat``); checked when the job is
        validated (``job.config``, ``tune()``), where a misspelt key names the nearest one."""
        node = self.data
        *parents, last = key.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[last] = copy.deepcopy(value)
        return self

    def set_workflow(
        self, workflow: str | type, ensure_reward_in_workflow: bool = False
    ) -> AgentJetJob:
        """The workflow: a class, ``module->Class``, ``module:Class`` or ``file.py:Class``.
        ``ensure_reward_in_workflow=True`` drops any judger (the workflow returns the reward)."""
        self.override("workflow.name", object_path(workflow))
        if ensure_reward_in_workflow:
            self.data.pop("judger", None)
        return self

    def set_data(
        self,
        type: str,
        dataset_path: str | Path | None = None,
        training_split: str = "train",
        validation_split: str = "test",
        **options: Any,
    ) -> AgentJetJob:
        """The task reader: AgentJet's names (``huggingface_dat_repo``/``hf``, ``random_dummy``)
        or any registered reader of ours, with its options as keyword arguments."""
        reader = READER_TYPES.get(type, type)
        section: dict[str, Any] = {"type": reader}
        if reader == "huggingface":
            if dataset_path is None:
                raise ConfigError("set_data('huggingface', dataset_path=...) needs the data path")
            section.update(
                path=str(dataset_path),
                train_split=training_split,
                validation_split=validation_split,
                # Rows without 'question' stay tasks, as in AgentJet.
                default_query="Empty",
            )
        elif reader == "jsonl":
            if dataset_path is None:
                raise ConfigError("set_data('jsonl', dataset_path=...) needs the training file")
            section["train_path"] = str(dataset_path)
        elif dataset_path is not None:
            section["path"] = str(dataset_path)
        section.update(options)
        self.data["task_reader"] = section
        return self

    def set_judger(self, judger: str | type, **options: Any) -> AgentJetJob:
        """The judger: a registered name (``math_answer``), an object path, or a judge class."""
        self.data["judger"] = {"type": object_path(judger), **options}
        return self

    # ------------------------------------------------------------------------ output

    @property
    def config(self) -> AjetConfig:
        """The job validated as the CLI validates a config (errors name the key)."""
        with tempfile.TemporaryDirectory() as folder:
            return load_config(self.dump_job_as_yaml(Path(folder) / "job.yaml")).config

    def dump_job_as_yaml(self, yaml_path: str | Path) -> str:
        """Write the job as a config YAML; ``ajet train --conf <it>`` runs the same job."""
        path = Path(yaml_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.data, sort_keys=False), encoding="utf-8")
        return str(path)

    def tune(self, *, launch: bool | None = None, resume: str | None = None) -> TuneResult:
        """Train. ``launch=None`` runs in-process backbones here and others in a child
        ``ajet train``; ``launch=True`` always starts the child (any backbone)."""
        from ajet_core.training.run_dir import latest_run_dir

        config = self.config  # refuse a bad job before anything starts
        if not config.workflow.name:
            raise ConfigError("the job has no workflow: call job.set_workflow(...) first")
        if "jsonl" not in config.logging.loggers:
            # The final metrics are read back from metrics.jsonl.
            self.override("logging.loggers", [*config.logging.loggers, "jsonl"])
            config = self.config
        folder = Path(config.experiment.output_dir) / config.experiment.name
        folder.mkdir(parents=True, exist_ok=True)
        config_path = folder / "ajet_job.yaml"
        self.dump_job_as_yaml(config_path)
        before = latest_run_dir(config)
        if launch is None:
            launch = config.backbone.name not in IN_PROCESS_BACKBONES
        if launch:
            command = [sys.executable, "-m", "ajet_core.cli.main", "train", "--conf"]
            command.append(str(config_path))
            if resume is not None:
                command += ["--resume", resume]
            finished = subprocess.run(command, check=False)
            if finished.returncode != 0:
                raise RuntimeError(
                    f"`{' '.join(command)}` failed with exit code {finished.returncode} (its "
                    "messages are above)"
                )
        else:
            from ajet_core.cli.run_cmds import train

            train(
                argparse.Namespace(
                    conf=str(config_path), backbone=None, overrides=[], resume=resume
                )
            )
        run_dir = latest_run_dir(config)
        if run_dir is None or (resume is None and run_dir == before):
            raise RuntimeError(f"training finished but made no run folder under {folder}")
        self.run_dir, self.final_metrics = run_dir, last_step_metrics(run_dir)
        return TuneResult(run_dir=run_dir, metrics=self.final_metrics, config_path=config_path)


def _plain(config: AjetConfig) -> dict[str, Any]:
    """A loaded config as data that still means the same from another folder."""
    from ajet_core.config.loader import config_to_dict
    from ajet_core.importing import split_object_path

    data = config_to_dict(config)
    name = config.workflow.name
    if name and config.base_dir is not None and (".py" in name or "/" in name):
        # File-path workflows resolve from the config's folder first: pin that folder.
        module, attr = split_object_path(name)
        candidate = config.base_dir / module
        if not Path(module).is_absolute() and candidate.is_file():
            data["workflow"]["name"] = f"{candidate.resolve()}:{attr}"
    return data
