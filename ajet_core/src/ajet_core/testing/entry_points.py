"""Does a distribution's entry-point module stay light? Checked in a fresh interpreter.

Every ``ajet`` command imports every installed plugin's entry-point module, so one that imports
torch makes each command pay seconds of CPU. :func:`heavy_imports` loads a distribution's
``ajet`` entry points in a subprocess (so modules this test process already holds do not hide
anything) and reports which heavy libraries each one pulled in.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY_MODULES = ("torch", "transformers", "verl", "trinity", "vllm", "openai")

_PROBE = """
import importlib.metadata as metadata, json, sys
heavy = {heavy!r}
before = {{name.split(".")[0] for name in sys.modules}}
found = {{}}
for dist in metadata.distributions():
    if (dist.metadata["Name"] or "").lower().replace("_", "-") != {distribution!r}:
        continue
    for entry_point in dist.entry_points:
        if entry_point.group != "ajet":
            continue
        entry_point.load()
        loaded = {{name.split(".")[0] for name in sys.modules}} - before
        found[entry_point.name] = sorted(set(heavy) & loaded)
    break
print(json.dumps(found))
"""


def heavy_imports(
    distribution: str, *, heavy: tuple[str, ...] = HEAVY_MODULES
) -> dict[str, list[str]]:
    """Entry-point name -> the heavy modules importing it pulls in (only names with some)."""
    wanted = distribution.lower().replace("_", "-")
    probe = _PROBE.format(heavy=list(heavy), distribution=wanted)
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:
        raise AssertionError(
            f"importing {distribution}'s entry points failed:\n{result.stderr.strip()}"
        )
    return {name: mods for name, mods in json.loads(result.stdout).items() if mods}
