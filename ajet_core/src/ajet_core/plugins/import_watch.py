"""What importing a plugin did to the process: threads it started, sockets it opened, and
attributes of this project's modules (or their classes) it replaced.

A plugin's entry-point module runs in every ``ajet`` command; side effects there reach runs that
never use the plugin. The plugin manager imports each entry point inside :class:`ImportWatch`,
reports what it saw on the plugin's row, and puts replaced attributes back (a plugin that
rewrites the core must not change how everybody else's runs score or train).
"""

from __future__ import annotations

import os
import sys
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

# The import packages of this project's distributions: their attributes are nobody's to replace.
WATCHED_PACKAGES = frozenset(
    {
        "ajet",
        "ajet_core",
        "ajet_client",
        "ajet_plugins_std",
        "ajet_backbone_debug",
        "ajet_backbone_verl",
        "ajet_backbone_trinity",
        "ajet_plugins_agentscope",
        "ajet_plugins_langchain",
    }
)


@dataclass
class Replaced:
    """One attribute an import replaced: where, and the original to put back."""

    owner: Any  # a module or a class
    name: str
    original: Any
    existed: bool

    @property
    def path(self) -> str:
        owner_name = getattr(self.owner, "__qualname__", None) or self.owner.__name__
        module = getattr(self.owner, "__module__", None)
        prefix = f"{module}.{owner_name}" if isinstance(self.owner, type) else owner_name
        return f"{prefix}.{self.name}"

    def restore(self) -> None:
        if self.existed:
            setattr(self.owner, self.name, self.original)
        else:
            delattr(self.owner, self.name)


@dataclass
class PatchedFreshModule:
    """A module of ours first imported during the plugin's import and patched there: its
    originals are unknown, so the module is dropped and the next import runs it afresh."""

    module: ModuleType
    names: list[str]

    @property
    def paths(self) -> list[str]:
        return [f"{self.module.__name__}.{name}" for name in self.names]

    def restore(self) -> None:
        name = self.module.__name__
        if sys.modules.get(name) is self.module:
            del sys.modules[name]
        parent_name, _, child = name.rpartition(".")
        parent = sys.modules.get(parent_name)
        if parent is not None and getattr(parent, child, None) is self.module:
            delattr(parent, child)


@dataclass
class ImportEffects:
    threads: list[threading.Thread] = field(default_factory=list)
    sockets: list[str] = field(default_factory=list)
    replaced: list[Replaced | PatchedFreshModule] = field(default_factory=list)

    @property
    def replaced_paths(self) -> list[str]:
        paths: list[str] = []
        for patch in self.replaced:
            paths += patch.paths if isinstance(patch, PatchedFreshModule) else [patch.path]
        return paths


def _watched(module_name: str) -> bool:
    return module_name.split(".")[0] in WATCHED_PACKAGES


def _namespaces() -> dict[int, tuple[Any, dict[str, Any]]]:
    """A shallow copy of the namespace of every watched module and of the classes it defines."""
    copies: dict[int, tuple[Any, dict[str, Any]]] = {}
    for name, module in list(sys.modules.items()):
        if not isinstance(module, ModuleType) or not _watched(name):
            continue
        namespace = dict(vars(module))
        copies[id(module)] = (module, namespace)
        for value in namespace.values():
            if isinstance(value, type) and value.__module__ == name:
                copies[id(value)] = (value, dict(vars(value)))
    return copies


def _socket_inodes() -> set[str]:
    """Inodes of the process's open sockets (Linux's /proc; empty elsewhere). Read from /proc
    rather than with psutil: importing psutil would cost every `ajet` command a third of a
    second."""
    inodes = set()
    try:
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue  # closed meanwhile
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def _describe_sockets(inodes: set[str]) -> list[str]:
    """'tcp 127.0.0.1:8765 LISTEN'-style names for socket inodes (their inode if not IP)."""
    found: dict[str, str] = {}
    for kind in ("tcp", "tcp6", "udp", "udp6"):
        try:
            lines = Path(f"/proc/self/net/{kind}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[9] in inodes:
                address, port = fields[1].rsplit(":", 1)
                state = TCP_STATES.get(fields[3], fields[3]) if kind.startswith("tcp") else ""
                found[fields[9]] = f"{kind} {_ip(address)}:{int(port, 16)} {state}".strip()
    return sorted(found.get(inode, f"socket inode {inode}") for inode in inodes)


TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "06": "TIME_WAIT", "0A": "LISTEN"}


def _ip(hex_address: str) -> str:
    if len(hex_address) == 8:  # IPv4, little-endian
        return ".".join(str(int(hex_address[i : i + 2], 16)) for i in (6, 4, 2, 0))
    return f"[{hex_address}]"


def _reexport(value: Any) -> bool:
    """A name another module of ours defines (``from ajet_core import Workflow`` makes the
    package cache its lazily-imported names)."""
    module = sys.modules.get(getattr(value, "__module__", None) or "")
    name = getattr(value, "__name__", None)
    return module is not None and isinstance(name, str) and getattr(module, name, None) is value


def _replacements(before: dict[int, tuple[Any, dict[str, Any]]]) -> list[Replaced]:
    replaced: list[Replaced] = []
    for owner, old in before.values():
        new = vars(owner)
        for name, value in old.items():
            if _dunder(name) or (name.startswith("_") and value is None):
                continue  # Python's own bookkeeping; a private cache filled on first use
            if name not in new or new[name] is not value:
                replaced.append(Replaced(owner, name, value, existed=True))
        for name, value in new.items():
            # A submodule imported meanwhile appears on its package, and a package caches the
            # names it re-exports lazily: that is importing, not patching.
            if name in old or _dunder(name) or isinstance(value, ModuleType) or _reexport(value):
                continue
            replaced.append(Replaced(owner, name, None, existed=False))
    return replaced


def _dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


# Threads started while a plugin was imported -> that plugin's name (for the exit message).
_THREAD_OWNERS: weakref.WeakKeyDictionary[threading.Thread, str] = weakref.WeakKeyDictionary()


def record_thread_owner(thread: threading.Thread, plugin: str) -> None:
    _THREAD_OWNERS[thread] = plugin


def plugin_that_started(thread: threading.Thread) -> str | None:
    """The plugin whose import started ``thread``, if one did."""
    return _THREAD_OWNERS.get(thread)


def _plugin_objects_in_fresh_modules(
    before: set[str], plugin_roots: set[str]
) -> list[PatchedFreshModule]:
    """Modules of ours imported for the first time during the import, holding functions or
    classes the plugin itself defines (a module's own imports come from elsewhere)."""

    def from_plugin(value: Any) -> bool:
        module = getattr(value, "__module__", None)
        return isinstance(module, str) and module.split(".")[0] in plugin_roots

    patched: list[PatchedFreshModule] = []
    for name, module in list(sys.modules.items()):
        if name in before or not isinstance(module, ModuleType) or not _watched(name):
            continue
        if name.split(".")[0] in plugin_roots:
            continue  # the plugin's own modules (one of ours is loading itself)
        names = [attr for attr, value in vars(module).items() if from_plugin(value)]
        for attr, value in vars(module).items():
            if isinstance(value, type) and value.__module__ == name:
                names += [f"{attr}.{a}" for a, v in vars(value).items() if from_plugin(v)]
        if names:
            patched.append(PatchedFreshModule(module, names))
    return patched


class ImportWatch:
    """``with ImportWatch(plugin_roots) as watch: import_the_plugin()``, then
    ``watch.effects``; ``plugin_roots`` are the top-level names of the plugin's own modules."""

    def __init__(self, plugin_roots: set[str] | None = None) -> None:
        self.plugin_roots = plugin_roots or set()
        self.effects = ImportEffects()

    def __enter__(self) -> ImportWatch:
        self._threads = set(threading.enumerate())
        self._sockets = _socket_inodes()
        self._modules = set(sys.modules)
        self._namespaces = _namespaces()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.effects.threads = [
            t for t in threading.enumerate() if t not in self._threads and t.is_alive()
        ]
        self.effects.sockets = _describe_sockets(_socket_inodes() - self._sockets)
        self.effects.replaced = [
            *_replacements(self._namespaces),
            *_plugin_objects_in_fresh_modules(self._modules, self.plugin_roots),
        ]
