"""Errors users see. Each message names the thing, the value and the way out."""

from __future__ import annotations


class AjetError(Exception):
    """Base class of every error AgentJet raises on purpose."""


class ConfigError(AjetError):
    """The run config is wrong (unknown key, bad value, unknown plugin). The CLI exits 2."""


class DataError(AjetError, ValueError):
    """A task file cannot be read (bad line, not UTF-8, corrupt archive); the message names
    ``file:line``. The CLI exits 2."""


class PluginError(AjetError):
    """A plugin could not be loaded, is blocked, or two plugins claim the same name."""


class PluginUnavailableError(PluginError, ConfigError):
    """A config selects a plugin whose package failed to import or lacks a dependency."""


class DuplicateNameError(PluginError):
    """Two plugins registered the same name for the same kind of thing."""


class CheckpointError(AjetError):
    """A checkpoint is missing, incomplete, corrupt, or does not fit the model being trained.

    One class for the core and every backbone: the core passes a backbone's CheckpointError (and
    its advice) through unchanged and wraps anything else.
    """


class TrainingDiverged(AjetError):
    """An update left the policy's weights or optimizer state non-finite (NaN or infinity).

    Raised instead of training on, or saving, a broken model: the last checkpoint stays the one
    to resume from."""


class RunFolderBusy(AjetError):
    """Another ajet process is writing the run folder (two ``--resume`` of one run at once)."""
