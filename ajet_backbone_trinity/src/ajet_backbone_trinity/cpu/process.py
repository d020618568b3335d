"""What every process of a CPU-engine run runs before anything of trinity or verl loads.

The driver (:mod:`ajet_backbone_trinity.run_trinity`) calls :func:`prepare` itself and connects
Ray with :func:`runtime_env`, whose ``worker_process_setup_hook`` makes every Ray worker of the
job call it at start-up — explorer, runners, buffer, synchronizer, trainer and verl's FSDP
workers, on any cluster, with nothing installed into trinity's plugin folder or the environment.
"""

from __future__ import annotations

import os
from typing import Any

from ajet_backbone_trinity.cpu import settings
from ajet_backbone_trinity.cpu.imports import ModuleHooks

_hooks: ModuleHooks | None = None


def prepare() -> None:
    """Install the import-time patches and the vLLM stand-in in this process (idempotent)."""
    global _hooks
    if _hooks is not None:
        return
    from ajet_backbone_trinity.cpu import patches

    for name, value in settings.PROCESS_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    hooks = ModuleHooks()
    patches.install(hooks)
    hooks.install()
    _hooks = hooks


def runtime_env(env_vars: dict[str, str]) -> dict[str, Any]:
    """The Ray job's runtime environment: ``env_vars`` and the mode's own, and the set-up hook."""
    return {
        "env_vars": {**settings.PROCESS_ENVIRONMENT, **env_vars},
        "worker_process_setup_hook": settings.SETUP_HOOK,
    }
