"""Run configs written the way tests vary them: a base dict, then section overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def write_config_file(path: Path, config: dict[str, Any], sections: dict[str, dict]) -> Path:
    """``config`` with each of ``sections`` merged into its section, as YAML at ``path``."""
    for section, values in sections.items():
        config.setdefault(section, {}).update(values)
    path.write_text(yaml.safe_dump(config))
    return path
