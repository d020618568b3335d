"""The run's ``config.yaml`` as verl's workers read it: file paths that mean the same anywhere.

Each agent-loop worker reloads ``<run>/config.yaml`` and works in the driver's directory, so a
``file.py:Class`` workflow or judger written relative to the *config file's* folder (where the
loader looks first) would point nowhere there. This rewrites those file parts as absolute paths,
found as the loader finds them: the config's folder first, then the working directory.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ajet_core.config.loader import config_to_dict
from ajet_core.config.models import AjetConfig
from ajet_core.importing import looks_like_object_path, split_object_path
from ajet_core.training.run_dir import CONFIG_FILE


def absolute_file_spec(spec: str | None, base_dir: Path) -> str | None:
    """``'agent.py:Agent'`` -> ``'/abs/dir/agent.py:Agent'``; module paths and names unchanged."""
    if not spec or not looks_like_object_path(spec):
        return spec
    module, attr = split_object_path(spec)
    if not (module.endswith(".py") or "/" in module) or Path(module).is_absolute():
        return spec
    candidates = [base_dir / module, Path.cwd() / module]
    found = next((path for path in candidates if path.is_file()), candidates[0])
    separator = "->" if "->" in spec else ":"
    return f"{found.resolve()}{separator}{attr}"


def write_worker_config(run_dir: Path, config: AjetConfig) -> Path:
    data = config_to_dict(config)
    data["workflow"]["name"] = absolute_file_spec(data["workflow"].get("name"), config.base_dir)
    data["judger"]["type"] = absolute_file_spec(data["judger"].get("type"), config.base_dir)
    path = run_dir / CONFIG_FILE
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
