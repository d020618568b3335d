"""Environment-level test helpers for backbone and plugin packages.

Run the ``ajet`` command installed next to the current interpreter, as a user of that virtual
environment would, and shadow an installed distribution's *metadata* (not its code) for one
subprocess — to test what ``ajet plugins list`` says after an up- or downgrade without doing one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

# The console script pip installed next to this interpreter.
AJET_COMMAND = Path(sys.executable).with_name("ajet")


def _environment(shadow_dir: Path | None) -> dict[str, str]:
    environment = dict(os.environ)
    if shadow_dir is not None:
        environment["PYTHONPATH"] = os.pathsep.join(
            [str(shadow_dir), environment.get("PYTHONPATH", "")]
        )
    return environment


def plugins_json(
    shadow_dir: Path | None = None, *, cwd: Path | None = None
) -> dict[str, dict[str, Any]]:
    """``ajet plugins list --json`` in a subprocess, keyed by plugin name."""
    result = subprocess.run(
        [str(AJET_COMMAND), "plugins", "list", "--json"],
        capture_output=True,
        text=True,
        env=_environment(shadow_dir),
        cwd=cwd,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)}


def run_python(
    code: str, shadow_dir: Path | None = None, *, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -c code`` with this interpreter (optionally with shadowed metadata)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=_environment(shadow_dir),
        cwd=cwd,
        timeout=300,
    )


def shadow_distribution(site_dir: Path, name: str, version: str) -> Path:
    """Write ``name``'s metadata at ``version`` into ``site_dir``: with ``site_dir`` first on the
    path, importlib.metadata reports that version."""
    dist_info = site_dir / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    )
    return site_dir
