"""Diagnose a Python environment from installed distribution metadata, importing nothing heavy.

Backbone packages (verl, trinity) build their ``check()`` on these helpers: which versions are
installed, which of a distribution's declared requirements are unmet (what ``pip check`` would
say about that one distribution), and a report that prints and serialises the same way for
every backbone. The plugin manager uses :func:`requirement_problem` for ``requires=`` of
registrations.
"""

from __future__ import annotations

import functools
import importlib.metadata as metadata
import json
import shlex
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement


def installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def requirement_problem(text: str) -> str | None:
    """Why the PEP 508 requirement ``text`` is not met here, or None when it is."""
    requirement = Requirement(text)
    version = installed_version(requirement.name)
    if version is None:
        return f"missing dependency: {requirement.name} is not installed (needs {text})"
    if requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
        return f"version mismatch: {requirement.name} {version} is installed, needs {text}"
    return None


def unmet_requirements(distribution: str, extras: tuple[str, ...] = ()) -> list[str]:
    """The requirements ``distribution`` declares (with ``extras``) that are not installed or not
    at an accepted version."""
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
            problems.append(
                f"{distribution} requires {text.split(';')[0].strip()}, which is not installed"
            )
        elif requirement.specifier and not requirement.specifier.contains(
            version, prereleases=True
        ):
            problems.append(
                f"{distribution} requires {requirement.name}{requirement.specifier}, "
                f"but {requirement.name} {version} is installed"
            )
    return problems


@dataclass
class EnvironmentReport:
    """What a backbone's ``check()`` found. ``ok``: nothing blocks the backbone here."""

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
        lines += [
            f"  {name:<13} {version or 'not installed'}" for name, version in self.versions.items()
        ]
        if self.gpu is not None:
            lines.append(f"  {'GPU':<13} {'available' if self.gpu else 'none'}")
        lines += [f"  problem: {problem}" for problem in self.problems]
        lines += [f"  warning: {warning}" for warning in self.warnings]
        return "\n".join(lines)


def probe_gpu() -> bool:
    """Whether torch sees a CUDA device (imports torch: for smoke scripts, never for listing)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def warn_about_cluster(report: EnvironmentReport, *, ray_version: str | None, gpu: bool) -> None:
    """Warnings every Ray-based backbone shares: Ray's token auth, and (when ``gpu``) no GPU."""
    import os

    from packaging.version import Version

    if (
        ray_version
        and Version(ray_version) >= Version("2.60")
        and "RAY_AUTH_MODE" not in os.environ
    ):
        report.warnings.append(
            f"ray {ray_version} enables token auth by default and RAY_AUTH_MODE is not set: for a "
            "head started with `ray start` on a trusted machine, export RAY_AUTH_MODE=disabled"
        )
    if gpu:
        report.gpu = probe_gpu()
        if not report.gpu:
            report.warnings.append(
                f"no CUDA GPU visible to torch: {report.backbone} training needs one"
            )


# Where each of this project's distributions lives in a checkout of its repository.
CHECKOUT_FOLDERS = {
    "ajet": ".",
    "ajet-core": "ajet_core",
    "ajet-client": "ajet_client",
    "ajet-plugins-std": "plugins/ajet_plugins_std",
    "ajet-backbone-debug": "plugins/ajet_backbone_debug",
    "ajet-backbone-verl": "ajet_backbone_verl",
    "ajet-backbone-trinity": "ajet_backbone_trinity",
    "ajet-plugins-agentscope": "ajet_plugins_agentscope",
    "ajet-plugins-langchain": "ajet_plugins_langchain",
}


@functools.lru_cache(maxsize=1)
def checkout_root() -> Path | None:
    """The repository checkout ajet-core was installed from (PEP 610's direct_url.json of an
    install from a local folder), or None for an install from an index."""
    try:
        text = metadata.distribution("ajet-core").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not text:
        return None
    url = json.loads(text).get("url", "")
    if not url.startswith("file://"):
        return None
    folder = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path))
    return (
        folder.parent if (folder.parent / CHECKOUT_FOLDERS["ajet-backbone-verl"]).is_dir() else None
    )


def install_command(distribution: str, *requirements: str) -> str:
    """A pip command that installs one of this project's distributions (with ``requirements``
    beside it) and works as written: from the checkout this environment was installed from, or
    by name where it came from an index."""
    root = checkout_root()
    folder = CHECKOUT_FOLDERS.get(distribution)
    target = str(root / folder) if root is not None and folder is not None else distribution
    return " ".join(["pip install", shlex.quote(target), *(shlex.quote(r) for r in requirements)])


def requirement_command(*requirements: str) -> str:
    """``pip install`` of third-party requirements, quoted for a shell."""
    return " ".join(["pip install", *(shlex.quote(r) for r in requirements)])
