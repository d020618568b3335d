"""``random_dummy`` task reader: numbered placeholder tasks, for workflows that build their own
environment from a seed (AgentJet's FrozenLake and werewolves tutorials select it).

    task_reader:
      type: random_dummy
      count: 1000          # tasks per split
      seed: 42             # the order the numbers come in

Task ``n`` has ``main_query`` ``"[dummy task @ n]"``, ``task_id`` ``"n"`` and
``metadata["random_number"] == n``, as AgentJet's reader of the same name; both splits hold the
same tasks.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from pydantic import Field

from ajet_core.errors import ConfigError
from ajet_core.readers import TRAIN_SPLIT, VALIDATION_SPLIT, TaskReader, TaskReaderConfig
from ajet_core.schema import Task


class RandomDummyReaderConfig(TaskReaderConfig):
    count: int = Field(default=1000, gt=0)
    seed: int = 42


class RandomDummyTaskReader(TaskReader):
    options_model = RandomDummyReaderConfig
    options: RandomDummyReaderConfig

    def iter_tasks(self, split: str) -> Iterator[Task]:
        if split not in (TRAIN_SPLIT, VALIDATION_SPLIT):
            raise ConfigError(
                f"random_dummy reader has no split {split!r}; it serves train, validation"
            )
        # A private generator: the global numpy state (which user code may rely on) is untouched.
        order = np.random.RandomState(self.options.seed).permutation(self.options.count)
        for number in order.tolist():
            yield Task(
                main_query=f"[dummy task @ {number}]",
                task_id=str(number),
                env_type="no_env",
                metadata={"random_number": number},
            )
