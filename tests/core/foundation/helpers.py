"""Helpers for foundation tests: fake *installed* distributions and running the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]


def make_distribution(
    site_dir: Path,
    dist_name: str,
    module_name: str,
    module_source: str | None,
    entry_name: str | None = None,
    requires: tuple[str, ...] = (),
) -> None:
    """Write a real installed distribution (``.dist-info`` with an ``ajet`` entry point) into
    ``site_dir``: importlib.metadata discovers it exactly as it would a pip-installed package.

    ``module_source=None`` leaves the entry point's module out (a packaging mistake);
    ``requires`` are the distribution's declared dependencies (``Requires-Dist``)."""
    if module_source is not None:
        (site_dir / f"{module_name}.py").write_text(textwrap.dedent(module_source))
    dist_info = site_dir / f"{dist_name.replace('-', '_')}-0.0.1.dist-info"
    dist_info.mkdir(parents=True)
    requires_lines = "".join(f"Requires-Dist: {r}\n" for r in requires)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 0.0.1\n{requires_lines}"
    )
    (dist_info / "entry_points.txt").write_text(
        f"[ajet]\n{entry_name or module_name} = {module_name}\n"
    )


def run_ajet(
    *args: str,
    extra_path: Path | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``ajet`` CLI in a subprocess (the way users run it)."""
    environment = {**os.environ, **(env or {})}
    if extra_path is not None:
        environment["PYTHONPATH"] = os.pathsep.join(
            [str(extra_path), environment.get("PYTHONPATH", "")]
        )
    return subprocess.run(
        [sys.executable, "-m", "ajet_core.cli.main", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd or REPO_ROOT,
        # A hang detector, not a speed check: the test command runs four suites side by side on
        # two cores, and an `ajet rollout` there took over 120 s.
        timeout=600,
    )
