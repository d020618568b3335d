"""Does a distribution's entry-point module stay light? Measured in a fresh interpreter.

Every ``ajet`` command imports every installed plugin's entry-point module, so one that imports
torch (or datasets, pandas, sympy ...) makes each command pay seconds of CPU.
:func:`entry_point_costs` loads a distribution's ``ajet`` entry points in a subprocess (so modules
this test process already holds do not hide anything), after what every command has loaded anyway
(``ajet_core.hookspecs`` and pluggy), and measures the CPU time each import takes and the
top-level modules it pulls in.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

# Named in the report when an entry point pulls them in: the usual culprits.
HEAVY_MODULES = ("torch", "transformers", "verl", "trinity", "vllm", "openai")

_PROBE = """
import importlib.metadata as metadata, json, sys, time
import ajet_core.hookspecs  # every command has it already: not the plugin's cost
before = {{name.split(".")[0] for name in sys.modules}}
found = {{}}
for dist in metadata.distributions():
    if (dist.metadata["Name"] or "").lower().replace("_", "-") != {distribution!r}:
        continue
    for entry_point in dist.entry_points:
        if entry_point.group != "ajet":
            continue
        started = time.process_time()
        entry_point.load()
        seconds = time.process_time() - started
        loaded = {{name.split(".")[0] for name in sys.modules}} - before
        found[entry_point.name] = {{"cpu_seconds": seconds, "modules": sorted(loaded)}}
        before |= loaded
    break
print(json.dumps(found))
"""


@dataclass(frozen=True)
class EntryPointCost:
    cpu_seconds: float
    modules: list[str]  # top-level modules its import loaded

    def heavy(self, heavy: tuple[str, ...] = HEAVY_MODULES) -> list[str]:
        return sorted(set(heavy) & set(self.modules))


def entry_point_costs(distribution: str) -> dict[str, EntryPointCost]:
    """Entry-point name -> what importing it costs, each measured in one fresh interpreter."""
    wanted = distribution.lower().replace("_", "-")
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.format(distribution=wanted)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"importing {distribution}'s entry points failed:\n{result.stderr.strip()}"
        )
    return {
        name: EntryPointCost(cost["cpu_seconds"], cost["modules"])
        for name, cost in json.loads(result.stdout).items()
    }


def heavy_imports(
    distribution: str, *, heavy: tuple[str, ...] = HEAVY_MODULES
) -> dict[str, list[str]]:
    """Entry-point name -> the heavy modules importing it pulls in (only names with some)."""
    costs = entry_point_costs(distribution)
    return {name: cost.heavy(heavy) for name, cost in costs.items() if cost.heavy(heavy)}
