"""Import-time hooks for a CPU run, installed once per process by :mod:`.process`.

Two things must happen while a module loads, not after:

* a patch must replace a name before any other module binds it (``from verl.utils.memory_utils
  import aggressive_empty_cache`` copies the function into the importer), so each patch runs the
  moment its module has executed, before the import returns;
* trinity-rft 0.6 imports vLLM's multimodal helpers at module level
  (``trinity/common/models/mm_utils.py:35-42``, reached from ``model.py:25`` by every explorer,
  runner and trainer process) and vLLM is CUDA-only. Stand-in ``vllm`` modules exist in
  ``sys.modules`` only while that one module executes and are removed when it returns, so nothing
  else — our engine's structured-output path, a user's workflow, another library probing for
  vLLM — ever believes vLLM is installed.

:class:`ModuleHooks` is a ``sys.meta_path`` finder that claims no module itself: for a hooked name
it asks the finders after it for the real spec and wraps only its loader.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

AfterLoad = Callable[[types.ModuleType], None]


class UnavailableInCpuMode:
    """What a vLLM class name stands for in a CPU run: using it is an error that says why."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError(
            f"{type(self).__name__} is vLLM's, and vLLM is not installed in a CPU-engine run "
            "(backbone.rollout_engine: cpu serves text prompts with transformers); multimodal "
            "prompts need vLLM on a GPU"
        )


def _unavailable_function(name: str) -> Callable[..., Any]:
    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            f"vllm.entrypoints.chat_utils.{name} is not available in a CPU-engine run (no vLLM): "
            "multimodal prompts need vLLM on a GPU"
        )

    unavailable.__name__ = name
    return unavailable


def vllm_names(model_config: type = UnavailableInCpuMode) -> dict[str, dict[str, Any]]:
    """The modules and names ``trinity/common/models/mm_utils.py:35-42`` imports from vLLM."""
    model_config = type("ModelConfig", (model_config,), {})
    return {
        "vllm": {"__version__": "0+ajet-cpu-stand-in"},
        "vllm.config": {"ModelConfig": model_config},
        "vllm.entrypoints": {},
        "vllm.entrypoints.chat_utils": {
            "ChatTemplateContentFormat": str,
            "ConversationMessage": dict,
            "parse_chat_messages": _unavailable_function("parse_chat_messages"),
            "parse_chat_messages_async": _unavailable_function("parse_chat_messages_async"),
        },
        "vllm.inputs": {"MultiModalDataDict": dict},
    }


@contextlib.contextmanager
def vllm_stand_in(names: dict[str, dict[str, Any]] | None = None) -> Iterator[None]:
    """Stand-in vLLM modules in ``sys.modules`` inside the block only. Where vLLM is installed
    (a GPU machine) it does nothing."""
    if importlib.machinery.PathFinder.find_spec("vllm") is not None:
        yield
        return
    names = vllm_names() if names is None else names
    lent = []
    for name, attributes in names.items():
        if name in sys.modules:
            continue
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        sys.modules[name] = module
        lent.append(name)
    try:
        yield
    finally:
        for name in lent:
            sys.modules.pop(name, None)


class _HookedLoader(importlib.abc.Loader):
    """The real loader, with the module's hooks around its execution."""

    def __init__(self, loader: Any, around: Callable[[], Any], after: list[AfterLoad]) -> None:
        self.loader = loader
        self.around = around
        self.after = after

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        with self.around():
            self.loader.exec_module(module)
        for hook in self.after:
            hook(module)

    def __getattr__(self, name: str) -> Any:  # get_source, is_package, ... of the real loader
        return getattr(self.loader, name)


class ModuleHooks(importlib.abc.MetaPathFinder):
    def __init__(self) -> None:
        self.after_load: dict[str, list[AfterLoad]] = {}
        self.needs_vllm: set[str] = set()

    def on_load(self, module: str, hook: AfterLoad) -> None:
        """Run ``hook(module)`` right after ``module`` executes — or now, if it already has."""
        loaded = sys.modules.get(module)
        if loaded is not None:
            hook(loaded)
            return
        self.after_load.setdefault(module, []).append(hook)

    def lend_vllm_to(self, module: str) -> None:
        """Let ``module`` (and only it, while it executes) import vLLM's stand-in names."""
        self.needs_vllm.add(module)

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in self.after_load and fullname not in self.needs_vllm:
            return None
        spec = self._real_spec(fullname, path, target)
        if spec is None or spec.loader is None:
            return spec
        around = vllm_stand_in if fullname in self.needs_vllm else contextlib.nullcontext
        spec.loader = _HookedLoader(spec.loader, around, self.after_load.pop(fullname, []))
        return spec

    def _real_spec(self, fullname: str, path: Any, target: Any) -> Any:
        index = sys.meta_path.index(self) if self in sys.meta_path else -1
        for finder in sys.meta_path[index + 1 :]:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find else None
            if spec is not None:
                return spec
        return None

    def install(self) -> None:
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)
