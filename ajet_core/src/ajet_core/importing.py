"""Resolve user-written object paths: ``pkg.module:Class``, ``path/to/file.py:Class``.

AgentJet's own configs separate module and attribute with ``->``; we accept it too so configs
migrate unchanged.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from ajet_core.errors import ConfigError


def split_object_path(spec: str) -> tuple[str, str]:
    """Split ``module:attr`` (or ``module->attr``) into its two parts, or raise ConfigError."""
    for separator in ("->", ":"):
        # rpartition so a Windows drive letter or a path with ':' earlier still splits at the end.
        module, found, attr = spec.rpartition(separator)
        if found and module and attr:
            return module.strip(), attr.strip()
    raise ConfigError(
        f"object path {spec!r} has no attribute part: write 'package.module:Name' or "
        "'path/to/file.py:Name'"
    )


def looks_like_object_path(value: str) -> bool:
    return "->" in value or ":" in value


def _importable(folder: Path) -> None:
    # Appended, not prepended: an installed package keeps precedence over a same-named folder.
    if str(folder) not in sys.path:
        sys.path.append(str(folder))


def _first_on_path(folder: Path) -> None:
    if str(folder) in sys.path:
        sys.path.remove(str(folder))
    sys.path.insert(0, str(folder))
    importlib.invalidate_caches()


def _import_file(path: Path) -> Any:
    # One module per distinct file, named by a hash of its path so two tutorials' 'workflow.py'
    # files do not overwrite each other in sys.modules.
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    module_name = f"ajet_user_{path.stem}_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot load Python file {str(path)!r}: is it a .py file?")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    # Let the file import its siblings (a tutorial's judger next to its workflow) and its own
    # project's packages: 'from tutorial.example_x.utils import ...' in an AgentJet project needs
    # the folder above the file's package and the launch folder, as for module-path specs.
    folder = path.resolve().parent
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    package_root = folder
    while (package_root / "__init__.py").is_file() and package_root.parent != package_root:
        package_root = package_root.parent
    if package_root != folder:
        _first_on_path(package_root)  # it holds the file's own package: the project's wins
    _importable(Path.cwd())
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def _refuse_shadowed_package(top: str, project: Path, spec: str) -> None:
    """Python imports a top-level package once per process: when another package of the same
    name (the openai-agents SDK's 'agents') is already loaded, the project's folder would be
    skipped and the import would fail with a misleading 'No module named ...'."""
    loaded = sys.modules.get(top)
    if loaded is None:
        return
    origin = getattr(loaded, "__file__", None) or next(iter(getattr(loaded, "__path__", [])), None)
    if origin and not Path(origin).resolve().is_relative_to(project.resolve()):
        raise ConfigError(
            f"{spec!r} needs the project's package {str(project / top)!r}, but another package "
            f"named {top!r} is already imported in this process (from {origin}); rename the "
            "project's package, or import the other one only after the workflow has loaded"
        )


def import_object(spec: str, *, base_dir: Path | None = None) -> Any:
    """Import the object ``spec`` names. ``base_dir`` resolves relative file paths (the config's
    folder first, then the working directory)."""
    module_part, attr = split_object_path(spec)
    if module_part.endswith(".py") or "/" in module_part or "\\" in module_part:
        candidates = [Path(module_part)]
        if base_dir is not None and not Path(module_part).is_absolute():
            candidates.insert(0, base_dir / module_part)
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise ConfigError(
                f"file {module_part!r} in {spec!r} does not exist (looked in "
                f"{', '.join(str(p.resolve()) for p in candidates)})"
            )
        module = _import_file(path)
    else:
        # AgentJet names workflows by module path from the project root it is launched in
        # ('tutorial.example_math_agent.math_agent->ExampleMathLearn'): the working directory
        # must be importable, as it is under 'python -m'.
        cwd = Path.cwd()
        top = module_part.split(".")[0]
        if (cwd / top).is_dir() or (cwd / f"{top}.py").is_file():
            # The project's own package wins over an installed one of the same name (a folder
            # 'agents/' next to the openai-agents SDK), as under `python -m` from that folder.
            _first_on_path(cwd)
            _refuse_shadowed_package(top, cwd, spec)
        else:
            _importable(cwd)
        try:
            module = importlib.import_module(module_part)
        except ModuleNotFoundError as exc:
            if exc.name and module_part.startswith(exc.name):
                raise ConfigError(
                    f"module {module_part!r} in {spec!r} is not importable ({exc}); check the "
                    "spelling, run from the project root, or install the package that holds it"
                ) from exc
            raise
    target: Any = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            names = sorted(n for n in dir(module) if not n.startswith("_"))
            raise ConfigError(
                f"{module_part!r} has no attribute {attr!r} (from {spec!r}); it defines: "
                f"{', '.join(names[:20]) or 'nothing public'}"
            ) from None
    return target
