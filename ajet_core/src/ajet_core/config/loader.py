"""Load a run config: YAML file -> AgentJet translation -> dotted overrides -> validation."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ajet_core.config.agentjet_compat import is_agentjet_config, translate_agentjet_config
from ajet_core.config.models import AjetConfig, PluginSection
from ajet_core.errors import ConfigError


@dataclass
class LoadedConfig:
    config: AjetConfig
    # Keys that did not apply (AgentJet keys without a counterpart), never dropped silently.
    warnings: list[str] = field(default_factory=list)
    source: Path | None = None


# How many nodes a config may hold once its aliases are expanded. YAML aliases share one object,
# so a few lines can stand for billions of nodes ("billion laughs"); validating or printing such
# a config would never end. Real configs hold a few hundred.
MAX_EXPANDED_NODES = 100_000


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Nodes ``node`` stands for with every alias expanded (memoised: shared nodes count once
    per use, computed once)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    sizes[id(node)] = 1  # a node reached again while being sized (a recursive alias)
    if isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    else:
        children = []
    total = 1 + sum(_expanded_size(child, sizes) for child in children)
    sizes[id(node)] = total
    return total


def _duplicate_key(node: yaml.Node, seen: set[int]) -> tuple[str, int, int] | None:
    """The first key written twice in one mapping (YAML keeps the last silently): (key, line of
    the first, line of the second), 1-based."""
    if id(node) in seen:
        return None
    seen.add(id(node))
    children: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                if key.value in first_line:
                    return key.value, first_line[key.value], key.start_mark.line + 1
                first_line[key.value] = key.start_mark.line + 1
            children += [key, value]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    for child in children:
        found = _duplicate_key(child, seen)
        if found is not None:
            return found
    return None


def load_yaml_text(text: str, origin: str) -> Any:
    """YAML, refusing what would hang or crash the loader, each with a message naming
    ``origin``: aliases that expand past MAX_EXPANDED_NODES, and nesting deeper than Python's
    recursion allows."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None:
            return None
        expanded = _expanded_size(node, {})
        if expanded > MAX_EXPANDED_NODES:
            raise ConfigError(
                f"{origin} expands to {expanded:,} values through its YAML aliases (&anchor / "
                f"*alias); configs are limited to {MAX_EXPANDED_NODES:,}: write the values out "
                "instead of aliasing aliases"
            )
        duplicate = _duplicate_key(node, set())
        if duplicate is not None:
            key, first, second = duplicate
            raise ConfigError(
                f"{origin}: key {key!r} is written twice in the same section (lines {first} and "
                f"{second}); YAML would silently keep only the second: merge them into one"
            )
        loader = yaml.SafeLoader("")
        try:
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except RecursionError:
        raise ConfigError(
            f"{origin} is nested too deeply to read (thousands of levels); a config's sections "
            "are a few levels deep"
        ) from None


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(
            f"config file {str(path)!r} does not exist; pass --conf path/to/config.yaml"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {str(path)!r} is not UTF-8 text (byte {exc.start}: "
            f"{exc.object[exc.start : exc.start + 1]!r}); save it as UTF-8"
        ) from None
    try:
        data = load_yaml_text(text, f"config file {str(path)!r}")
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {str(path)!r} must hold a mapping of sections, got {type(data).__name__}"
        )
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """``rollout.num_repeat=8`` -> (["rollout", "num_repeat"], 8). Values are parsed as YAML."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(
            f"override {text!r} is not of the form section.key=value (e.g. rollout.num_repeat=8)"
        )
    try:
        value = load_yaml_text(raw, f"override {text!r}") if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif isinstance(child, str) and part == "backbone":
                child = node[part] = {"name": child}
            elif not isinstance(child, dict):
                raise ConfigError(
                    f"override {text!r}: {part!r} holds {child!r}, not a section with keys"
                )
            node = child
        node[path[-1]] = value
    return data


def _model_at(location: Sequence[Any]) -> type[BaseModel] | None:
    """The pydantic model that owns the field at ``location`` (for 'did you mean')."""
    model: type[BaseModel] | None = AjetConfig
    for part in location:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return None
        annotation = model.model_fields[part].annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        model = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
    return model


def nearest_key(key: str, model: type[BaseModel] | None) -> str | None:
    if model is None:
        return None
    matches = difflib.get_close_matches(key, list(model.model_fields), n=1, cutoff=0.5)
    return matches[0] if matches else None


def format_validation_error(
    exc: ValidationError, *, prefix: str = "", model: type[BaseModel] | None = None
) -> str:
    """One clause per problem, naming the key, the value and what is expected.

    ``prefix``/``model`` describe a plugin section validated by the plugin's own model.
    """
    lines = []
    for error in exc.errors():
        location = list(error["loc"])
        dotted = prefix + ".".join(str(p) for p in location)
        if error["type"] == "extra_forbidden":
            owner = model if model is not None else _model_at(location[:-1])
            suggestion = nearest_key(str(location[-1]), owner)
            hint = ""
            if suggestion:
                suggested = ".".join([*map(str, location[:-1]), suggestion])
                hint = f"; did you mean '{prefix}{suggested}'?"
            lines.append(f"unknown config key '{dotted}'{hint}")
        elif error["type"] == "missing":
            lines.append(f"config key '{dotted}' is required")
        else:
            value = error.get("input")
            lines.append(f"bad value for '{dotted}': {value!r} ({error['msg']})")
    return "; ".join(lines)


def validate_config(data: dict[str, Any], *, base_dir: Path | None = None) -> AjetConfig:
    try:
        config = AjetConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None
    config._base_dir = base_dir
    return config


def load_config(
    path: str | Path | None,
    overrides: Sequence[str] = (),
    *,
    backbone: str | None = None,
) -> LoadedConfig:
    """Read, translate, override and validate a config. Plugin sections are checked separately
    (:func:`ajet_core.config.plugin_sections.validate_plugin_sections`) once plugins load."""
    warnings: list[str] = []
    source = Path(path) if path is not None else None
    data: dict[str, Any] = read_yaml(source) if source is not None else {}
    base_dir = source.resolve().parent if source is not None else None
    if is_agentjet_config(data):
        data, translation_warnings = translate_agentjet_config(data, base_dir=base_dir)
        warnings.extend(translation_warnings)
    data = apply_overrides(data, overrides)
    if backbone:
        data = apply_overrides(data, [f"backbone.name={backbone}"])
    return LoadedConfig(validate_config(data, base_dir=base_dir), warnings, source)


def config_to_dict(config: AjetConfig) -> dict[str, Any]:
    """The resolved config as plain data (plugin sections keep their extra keys)."""
    data = config.model_dump(mode="json")
    for name, value in config:
        if isinstance(value, PluginSection):
            data[name].update(value.plugin_options())
    return data
