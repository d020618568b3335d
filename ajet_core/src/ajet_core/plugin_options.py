"""One spelling for a plugin's options, everywhere: ``options_model`` and ``self.options``.

Judgers, task readers, backbones and metric loggers all declare the pydantic model of their
config section as the class attribute ``options_model`` and receive the validated options as
``self.options`` (a backbone's and a logger's ``self.config`` is the whole run config).

The old spellings still work, with a :class:`DeprecationWarning`: ``config_model`` (judgers,
readers, backbones) and a judger's or reader's ``self.config``.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

from pydantic import BaseModel

LEGACY_MODEL_NAME = "config_model"


class _LegacyModelName:
    """Reading ``cls.config_model`` gives ``cls.options_model``, with a warning."""

    def __get__(self, obj: Any, owner: type) -> Any:
        warnings.warn(
            f"{owner.__qualname__}.config_model is the old name of options_model",
            DeprecationWarning,
            stacklevel=2,
        )
        return owner.options_model  # type: ignore[attr-defined]


class PluginWithOptions:
    """Base of every plugin class whose config section has options."""

    # The pydantic model of the plugin's options (its config section minus the selector key).
    options_model: ClassVar[type[BaseModel] | None] = None
    config_model: ClassVar[Any] = _LegacyModelName()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        legacy = cls.__dict__.get(LEGACY_MODEL_NAME)
        if legacy is not None and not isinstance(legacy, _LegacyModelName):
            warnings.warn(
                f"{cls.__module__}.{cls.__qualname__} sets config_model, the old name of "
                "options_model: rename it (docs/plugins.md)",
                DeprecationWarning,
                stacklevel=2,
            )
            if "options_model" not in cls.__dict__:
                cls.options_model = legacy


class OptionsAlsoAsConfig:
    """``self.config``, the old name of a judger's or reader's ``self.options``."""

    options: Any

    @property
    def config(self) -> Any:
        warnings.warn(
            f"{type(self).__qualname__}.config is the old name of .options",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.options

    @config.setter
    def config(self, value: Any) -> None:
        warnings.warn(
            f"{type(self).__qualname__}.config is the old name of .options",
            DeprecationWarning,
            stacklevel=2,
        )
        self.options = value


def options_model_of(implementation: Any) -> type[BaseModel] | None:
    """The options model of a plugin class, whichever spelling it uses."""
    model = getattr(implementation, "options_model", None)
    if model is None and LEGACY_MODEL_NAME in getattr(implementation, "__dict__", {}):
        model = implementation.__dict__[LEGACY_MODEL_NAME]  # a class that is no PluginWithOptions
    return model
