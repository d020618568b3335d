"""pytest11 entry point: makes the testing kit's fixtures available to plugin authors' tests."""

from ajet_core.testing.fixtures import ajet_plugins, register_ajet_plugin
from ajet_core.testing.vllm import vllm_stand_in

__all__ = ["ajet_plugins", "register_ajet_plugin", "vllm_stand_in"]
