"""Is this Python environment able to run the trinity backbone? A diagnosis from installed metadata.

``check()`` reads installed distributions (importlib.metadata), never imports trinity, Ray or
vLLM, so it is cheap and safe to call from listing code paths and from the GPU smoke script's
``--dry-run``. It reports:

* problems: what stops the backbone from importing Trinity-RFT's workflow API (trinity-rft
  missing or outside the supported range, one of trinity-rft's own requirements missing or at a
  version it does not accept — e.g. transformers<5.12.1, the usual clash with verl 0.9);
* warnings: what only some features need (vLLM, which trinity's explorer and model wrapper import
  at module level and which is CUDA-only on PyPI; AgentScope 1.x for trinity's `agent` extra; a
  GPU when asked to probe for one).
"""

from __future__ import annotations

from importlib import metadata

from packaging.requirements import Requirement

from ajet_core.environment import (
    EnvironmentReport,
    installed_version,
    requirement_command,
    unmet_requirements,
    warn_about_cluster,
)

# The Trinity-RFT releases this backbone is written against (also declared by the registration).
TRINITY_REQUIREMENT = "trinity-rft>=0.6,<0.7"
# trinity-rft's `vllm` extra names the vLLM releases its explorer works with (0.6.0:
# vllm>=0.19.1,<=0.23.0); vLLM pins its own torch.
# What to install beside this backbone: trinity-rft with its AgentScope and vLLM extras.
TRINITY_INSTALL = "trinity-rft[agent,vllm]>=0.6,<0.7"
INSTALL_HINT = requirement_command(TRINITY_INSTALL)
VLLM_EXTRA = "vllm"
# trinity-rft's `agent` extra (AgentScope workflows) needs AgentScope 1.x.
AGENTSCOPE_FOR_TRINITY = "agentscope>=1.0.19,<2"
# Shown in every report: the versions people ask about first when trinity misbehaves.
KEY_DISTRIBUTIONS = ("trinity-rft", "transformers", "torch", "ray", "verl", "agentscope", "vllm")


def vllm_requirement() -> Requirement | None:
    """The vLLM requirement of the installed trinity-rft's ``vllm`` extra (None: not declared)."""
    try:
        declared = metadata.requires("trinity-rft") or []
    except metadata.PackageNotFoundError:
        return None
    for line in declared:
        requirement = Requirement(line)
        if requirement.name == "vllm" and requirement.marker is not None:
            if requirement.marker.evaluate({"extra": VLLM_EXTRA}):
                return requirement
    return None


def check(*, gpu: bool = False) -> EnvironmentReport:
    """Diagnose the installed Trinity-RFT stack; ``gpu=True`` also imports torch to find a GPU."""
    report = EnvironmentReport(
        backbone="trinity", versions={name: installed_version(name) for name in KEY_DISTRIBUTIONS}
    )
    required = Requirement(TRINITY_REQUIREMENT)
    trinity_version = report.versions["trinity-rft"]
    if trinity_version is None:
        report.problems.append(
            f"trinity-rft is not installed (needs {TRINITY_REQUIREMENT}); {INSTALL_HINT}"
        )
    else:
        if not required.specifier.contains(trinity_version, prereleases=True):
            report.problems.append(
                f"trinity-rft {trinity_version} is installed but this backbone needs "
                f"{TRINITY_REQUIREMENT}; {INSTALL_HINT}"
            )
        report.problems += unmet_requirements("trinity-rft")

    agentscope_version = report.versions["agentscope"]
    if agentscope_version is None or not Requirement(AGENTSCOPE_FOR_TRINITY).specifier.contains(
        agentscope_version, prereleases=True
    ):
        found = (
            f"agentscope {agentscope_version} is installed"
            if agentscope_version
            else "agentscope is not installed"
        )
        report.warnings.append(
            f"{found}: trinity-rft's agent extra needs {AGENTSCOPE_FOR_TRINITY} (pip install "
            "'trinity-rft[agent]'); AgentScope workflows run under trinity only with it"
        )
    vllm_version = report.versions["vllm"]
    wanted = vllm_requirement()
    if vllm_version is None:
        report.warnings.append(
            "vLLM is not installed: trinity's explorer and model wrapper import it, so training "
            "needs it on a GPU (CUDA-only on PyPI; pip install 'trinity-rft[vllm]' picks a "
            "release trinity supports); CPU tests stand in for the `vllm` import"
        )
    elif wanted is not None and not wanted.specifier.contains(vllm_version, prereleases=True):
        report.problems.append(
            f"vLLM {vllm_version} is installed but trinity-rft {trinity_version}'s vllm extra "
            f"needs {wanted}; pip install 'trinity-rft[vllm]=={trinity_version}' (it picks a "
            "vLLM in range)"
        )
    warn_about_cluster(report, ray_version=report.versions["ray"], gpu=gpu)
    return report
