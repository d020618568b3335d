"""Validate the sections whose keys belong to a plugin (reader, judger, tracker, backbone).

The core validates ``type``/``name``; the selected plugin's ``options_model`` validates the rest.
Done after plugins load, so an unknown or broken plugin is reported with what to install. Once
validated, the section records the plugin's defaults next to what the user wrote, so
``ajet config show`` and the run's ``config.yaml`` show every option the plugin runs with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError

from ajet_core.config.loader import format_validation_error
from ajet_core.config.models import AjetConfig, PluginSection
from ajet_core.errors import ConfigError
from ajet_core.importing import import_object, looks_like_object_path
from ajet_core.plugin_options import options_model_of
from ajet_core.plugins.manager import PluginManager

# config section -> (registry kind, the key that selects the plugin)
# The backbone first: it decides whether anything else can run at all.
PLUGIN_SECTIONS: dict[str, tuple[str, str]] = {
    "backbone": ("backbone", "name"),
    "task_reader": ("task_reader", "type"),
    "judger": ("judger", "type"),
    "tracker": ("tracker", "type"),
}


@dataclass
class ResolvedPlugin:
    section: str
    name: str
    implementation: Any  # the class
    options: BaseModel | None  # the validated plugin options


def resolve_section(
    config: AjetConfig, section: str, plugins: PluginManager
) -> ResolvedPlugin | None:
    """Find the plugin a section selects and validate its options with the plugin's model."""
    kind, selector = PLUGIN_SECTIONS[section]
    body: PluginSection = getattr(config, section)
    name = getattr(body, selector)
    if name is None:
        return None
    config_key = f"{section}.{selector}"
    if kind in ("judger",) and name not in plugins.registry(kind) and looks_like_object_path(name):
        # Judgers may be named by path too, as workflows are ('my_judge.py:MyJudger').
        implementation = plugins.check_object(
            kind, import_object(name, base_dir=config.base_dir), config_key=config_key, value=name
        )
    else:
        implementation = plugins.load_object(kind, name, config_key=config_key)
    options_model = options_model_of(implementation)
    raw = body.plugin_options()
    if options_model is None:
        if raw:
            raise ConfigError(
                f"{kind} {name!r} takes no options, but {section} has: {', '.join(sorted(raw))}"
            )
        return ResolvedPlugin(section, name, implementation, None)
    try:
        options = options_model.model_validate(raw)
    except ValidationError as exc:
        message = format_validation_error(exc, prefix=f"{section}.", model=options_model)
        raise ConfigError(f"{message} (options of {kind} {name!r})") from None
    for key, value in _defaults_not_written(options, raw).items():
        setattr(body, key, value)
    return ResolvedPlugin(section, name, implementation, options)


def _defaults_not_written(options: BaseModel, raw: dict[str, Any]) -> dict[str, Any]:
    """The options the user left to the plugin's defaults, as plain data (secrets left out: a
    dumped secret is a mask, and writing it back would replace the real value)."""
    dumped = options.model_dump(mode="json", by_alias=True)
    return {
        key: value
        for key, value in dumped.items()
        if key not in raw and not isinstance(getattr(options, key, None), (SecretStr, SecretBytes))
    }


def check_data_files(reader: ResolvedPlugin | None) -> None:
    """Fail before any model loads when a data file the reader's options name is missing (the
    reader would find out only when it first reads, after the model has loaded)."""
    if reader is None or reader.options is None:
        return
    required_files = getattr(reader.options, "required_files", None)
    if not callable(required_files):  # options not derived from TaskReaderConfig
        return
    missing = [(key, path) for key, path in required_files() if not Path(path).exists()]
    if missing:
        raise ConfigError(
            "; ".join(
                f"task_reader.{key}: data file {path!r} does not exist (looked at "
                f"{Path(path).resolve()})"
                for key, path in missing
            )
            + "; fix the path (relative paths are relative to the working directory)"
        )


def resolve_loggers(
    config: AjetConfig, plugins: PluginManager
) -> dict[str, tuple[Any, BaseModel | None]]:
    """Each logger of ``logging.loggers`` with its options checked by its ``options_model``."""
    chosen = config.logging.loggers
    strays = sorted(set(config.logging.logger_options) - set(chosen))
    if strays:
        raise ConfigError(
            f"logging.logger_options has options for {', '.join(strays)}, which "
            f"logging.loggers ({', '.join(chosen) or 'empty'}) does not switch on; add it there "
            "or remove its options"
        )
    resolved: dict[str, tuple[Any, BaseModel | None]] = {}
    for name in chosen:
        logger_class = plugins.load_object("logger", name, config_key="logging.loggers")
        options_model = options_model_of(logger_class)
        raw = config.logging.logger_options.get(name, {})
        if options_model is None:
            if raw:
                raise ConfigError(
                    f"logger {name!r} takes no options, but logging.logger_options.{name} has: "
                    f"{', '.join(sorted(raw))}"
                )
            resolved[name] = (logger_class, None)
            continue
        try:
            options = options_model.model_validate(raw)
        except ValidationError as exc:
            message = format_validation_error(
                exc, prefix=f"logging.logger_options.{name}.", model=options_model
            )
            raise ConfigError(f"{message} (options of logger {name!r})") from None
        resolved[name] = (logger_class, options)
        written = config.logging.logger_options.setdefault(name, {})
        written.update(_defaults_not_written(options, written))
    return resolved


@dataclass(frozen=True)
class RunPlan:
    """What a run runs with: the validated config and the plugin each of its sections selects.

    Built by :func:`validate_plugin_sections` and handed to the backbone's commands; consumers
    read ``plan.task_reader`` etc. A section left out of the validation (a worker resolves only
    the episode sections; a check may resolve one) is None, as is a judger the config does not
    select (the workflow returns its own reward).
    """

    config: AjetConfig
    backbone: ResolvedPlugin | None = None
    task_reader: ResolvedPlugin | None = None
    judger: ResolvedPlugin | None = None
    tracker: ResolvedPlugin | None = None

    def __getitem__(self, section: str) -> ResolvedPlugin | None:
        """``plan["judger"]`` is ``plan.judger``: sections by their config name."""
        if section not in PLUGIN_SECTIONS:
            raise KeyError(f"no plugin section {section!r}; sections: {', '.join(PLUGIN_SECTIONS)}")
        return getattr(self, section)


def validate_plugin_sections(
    config: AjetConfig, plugins: PluginManager, sections: tuple[str, ...] = tuple(PLUGIN_SECTIONS)
) -> RunPlan:
    """Resolve ``sections`` (all four by default) in order, the backbone first."""
    unknown = set(sections) - set(PLUGIN_SECTIONS)
    if unknown:
        raise KeyError(f"no plugin section {', '.join(sorted(unknown))}")
    resolved = {section: resolve_section(config, section, plugins) for section in sections}
    return RunPlan(config=config, **resolved)
