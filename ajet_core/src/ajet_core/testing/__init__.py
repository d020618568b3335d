"""Testing kit for plugin authors (requires pytest).

- :mod:`ajet_core.testing.conformance`: ``JudgerConformance``, ``TaskReaderConformance`` and
  ``BackboneConformance`` — subclass one in your package's tests and provide its fixtures.
- :mod:`ajet_core.testing.fixtures`: ``isolated_plugin_manager`` and the pytest fixtures
  ``ajet_plugins`` (a manager holding only the plugins you ask for) and ``register_ajet_plugin``
  (register a plugin object for one test). They are available in every pytest run where ajet-core
  is installed (pytest11 entry point).
- :mod:`ajet_core.testing.entry_points`: ``heavy_imports(distribution)`` — which of torch,
  transformers, verl, trinity, vllm, openai a distribution's entry-point modules import (checked
  in a fresh interpreter; the conformance classes run it for your registered plugin).
- :mod:`ajet_core.testing.samples`: ``assert_samples_train_exactly_the_sampled_tokens`` and
  ``sampled_ids`` — for adapters and trackers: samples train what the model sampled, nothing else.
- :mod:`ajet_core.testing.vllm`: the fixture ``vllm_stand_in`` — vLLM's
  ``StructuredOutputsParams`` for engines that map structured output to vLLM, tested without vLLM.
"""

from ajet_core.testing.conformance import (
    BackboneConformance,
    JudgerConformance,
    TaskReaderConformance,
)
from ajet_core.testing.fixtures import isolated_plugin_manager

__all__ = [
    "BackboneConformance",
    "JudgerConformance",
    "TaskReaderConformance",
    "isolated_plugin_manager",
]
