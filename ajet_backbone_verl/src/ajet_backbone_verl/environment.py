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

import importlib.metadata as metadata
import os
from dataclasses import dataclass, field
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import Version

# The verl releases this backbone is written against (also declared by the plugin registration).
VERL_REQUIREMENT = "verl>=0.9,<0.10"
# verl's extra that pulls what `verl.trainer` imports (hydra, ray, tensordict, ...).
VERL_EXTRA = "verl-core"
INSTALL_HINT = "pip install 'ajet-backbone-verl' 'verl[verl-core]>=0.9,<0.10' torch==<your torch>"
ROLLOUT_ENGINES = ("vllm", "sglang")
# Shown in every report: the versions people ask about first when verl misbehaves.
KEY_DISTRIBUTIONS = ("verl", "transformers", "torch", "ray", "tensordict", "vllm", "sglang")


def installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def unmet_requirements(distribution: str, extras: tuple[str, ...] = ()) -> list[str]:
    """The requirements ``distribution`` declares (with ``extras``) that are not installed or not
    at an accepted version — what ``pip check`` would say about that one distribution."""
    try:
        declared = metadata.requires(distribution) or []
    except metadata.PackageNotFoundError:
        return []
    problems = []
    for text in declared:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue  # metadata we cannot parse is not ours to judge
        if requirement.marker is not None and not any(
            requirement.marker.evaluate({"extra": extra}) for extra in ("", *extras)
        ):
            continue
        version = installed_version(requirement.name)
        if version is None:
            problems.append(f"{distribution} requires {text.split(';')[0].strip()}, which is not installed")
        elif requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
            problems.append(
                f"{distribution} requires {requirement.name}{requirement.specifier}, "
                f"but {requirement.name} {version} is installed"
            )
    return problems


@dataclass
class EnvironmentReport:
    """What ``check()`` found. ``ok`` means verl's trainer can be imported with this backbone."""

    backbone: str
    versions: dict[str, str | None]
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    gpu: bool | None = None  # None: not probed

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "backbone": self.backbone,
            "ok": self.ok,
            "versions": self.versions,
            "problems": self.problems,
            "warnings": self.warnings,
            "gpu": self.gpu,
        }

    def format(self) -> str:
        lines = [f"{self.backbone} backbone environment: {'ok' if self.ok else 'NOT USABLE'}"]
        lines += [f"  {name:<13} {version or 'not installed'}" for name, version in self.versions.items()]
        if self.gpu is not None:
            lines.append(f"  {'GPU':<13} {'available' if self.gpu else 'none'}")
        lines += [f"  problem: {problem}" for problem in self.problems]
        lines += [f"  warning: {warning}" for warning in self.warnings]
        return "\n".join(lines)


def probe_gpu() -> bool:
    """Whether torch sees a CUDA device (imports torch: only for the smoke script, not listing)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def check(*, gpu: bool = False) -> EnvironmentReport:
    """Diagnose the installed verl stack. ``gpu=True`` also imports torch to look for a GPU."""
    report = EnvironmentReport(
        backbone="verl", versions={name: installed_version(name) for name in KEY_DISTRIBUTIONS}
    )
    required = Requirement(VERL_REQUIREMENT)
    verl_version = report.versions["verl"]
    if verl_version is None:
        report.problems.append(f"verl is not installed (needs {VERL_REQUIREMENT}); {INSTALL_HINT}")
    else:
        if not required.specifier.contains(verl_version, prereleases=True):
            report.problems.append(
                f"verl {verl_version} is installed but this backbone needs {VERL_REQUIREMENT}; "
                f"{INSTALL_HINT}"
            )
        report.problems += unmet_requirements("verl", extras=(VERL_EXTRA,))

    if not any(report.versions[engine] for engine in ROLLOUT_ENGINES):
        report.warnings.append(
            "no rollout engine (vLLM or SGLang) is installed: training needs one on a GPU "
            "(both are CUDA-only on PyPI); CPU tests replace verl's LLM server client"
        )
    ray_version = report.versions["ray"]
    if ray_version and Version(ray_version) >= Version("2.60") and "RAY_AUTH_MODE" not in os.environ:
        report.warnings.append(
            f"ray {ray_version} enables token auth by default and RAY_AUTH_MODE is not set: "
            "for a head started with `ray start` on a trusted machine, export RAY_AUTH_MODE=disabled"
        )
    if gpu:
        report.gpu = probe_gpu()
        if not report.gpu:
            report.warnings.append("no CUDA GPU visible to torch: verl training needs one")
    return report
