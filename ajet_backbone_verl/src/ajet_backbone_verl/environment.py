"""Is this Python environment able to run the verl backbone? A diagnosis from installed metadata.

``check()`` reads installed distributions (importlib.metadata), never imports verl, Ray or vLLM,
so it is cheap and safe to call from ``ajet plugins list``-style code paths and from the GPU smoke
script's ``--dry-run``. It reports:

* problems: what stops the backbone from importing verl's trainer (verl missing or outside the
  supported range, one of verl's own requirements — with its ``verl-core`` extra, which the
  trainer needs — missing or at a version verl does not accept, e.g. transformers>=5.11);
* warnings: what only training needs (a rollout engine: vLLM or SGLang, CUDA-only on PyPI; a GPU
  when asked to probe for one).
"""

from __future__ import annotations

from packaging.requirements import Requirement

from ajet_core.environment import (
    EnvironmentReport,
    installed_version,
    requirement_command,
    unmet_requirements,
    warn_about_cluster,
)

# The verl releases this backbone is written against (also declared by the plugin registration).
VERL_REQUIREMENT = "verl>=0.9,<0.10"
# verl's extra that pulls what `verl.trainer` imports (hydra, ray, tensordict, ...).
VERL_EXTRA = "verl-core"
VERL_INSTALL = "verl[verl-core]>=0.9,<0.10"


def install_hint() -> str:
    """verl with its core extra, pinning the torch already here (else pip may replace it)."""
    torch = installed_version("torch")
    return requirement_command(VERL_INSTALL, *([f"torch=={torch}"] if torch else []))


ROLLOUT_ENGINES = ("vllm", "sglang")
# Shown in every report: the versions people ask about first when verl misbehaves.
KEY_DISTRIBUTIONS = ("verl", "transformers", "torch", "ray", "tensordict", "vllm", "sglang")


def check(*, gpu: bool = False) -> EnvironmentReport:
    """Diagnose the installed verl stack. ``gpu=True`` also imports torch to look for a GPU."""
    report = EnvironmentReport(
        backbone="verl", versions={name: installed_version(name) for name in KEY_DISTRIBUTIONS}
    )
    required = Requirement(VERL_REQUIREMENT)
    verl_version = report.versions["verl"]
    if verl_version is None:
        report.problems.append(
            f"verl is not installed (needs {VERL_REQUIREMENT}); {install_hint()}"
        )
    else:
        if not required.specifier.contains(verl_version, prereleases=True):
            report.problems.append(
                f"verl {verl_version} is installed but this backbone needs {VERL_REQUIREMENT}; "
                f"{install_hint()}"
            )
        report.problems += unmet_requirements("verl", extras=(VERL_EXTRA,))

    if not any(report.versions[engine] for engine in ROLLOUT_ENGINES):
        report.warnings.append(
            "no rollout engine (vLLM or SGLang) is installed: training needs one on a GPU "
            "(both are CUDA-only on PyPI); backbone.rollout_engine=cpu runs verl's trainer on the "
            "CPU instead (for tests: slow)"
        )
    warn_about_cluster(report, ray_version=report.versions["ray"], gpu=gpu)
    return report
