"""TaskStream: batches of tasks from a reader, with epochs, seeded shuffle, resumable position.

Readers only stream a split in a fixed order (:meth:`TaskReader.iter_tasks`). Everything that
decides *which tasks a training step sees* lives here, once, so every reader resumes exactly:

* **Shuffle with bounded memory.** A buffer of ``shuffle_buffer_size`` tasks: once full, each
  incoming task replaces a uniformly chosen buffered one, which is emitted. A split no larger than
  the buffer gets a uniform random permutation; a larger one gets a local shuffle while memory
  stays at ``shuffle_buffer_size`` tasks. The random generator is seeded by ``(seed, epoch)``, so
  every epoch has its own, reproducible order.
* **Position.** ``(epoch, offset)``: the epoch and how many tasks of it were handed out.
  :meth:`load_state_dict` replays the epoch's (deterministic) order and skips ``offset`` tasks,
  so a resumed run sees exactly the tasks an uninterrupted one would. Replaying costs reading up
  to the offset again, never memory.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from itertools import islice
from typing import Any

from ajet_core.errors import AjetError
from ajet_core.readers import TaskReader
from ajet_core.schema import Task

STATE_VERSION = 1


class TaskStreamStateError(AjetError):
    """A saved stream position does not fit this stream (other seed, split or batch settings)."""


class EmptySplitError(AjetError):
    """The reader yielded no task for the split the stream was asked to serve."""


def shuffled(tasks: Iterator[Task], rng: random.Random, buffer_size: int) -> Iterator[Task]:
    """Buffer shuffle: uniform when the split fits the buffer, memory bounded by ``buffer_size``."""
    buffer: list[Task] = []
    for task in tasks:
        if len(buffer) < buffer_size:
            buffer.append(task)
            continue
        slot = rng.randrange(buffer_size)
        yield buffer[slot]
        buffer[slot] = task
    rng.shuffle(buffer)
    yield from buffer


class TaskStream:
    """Batches of ``batch_size`` tasks from one split of ``reader``.

    ``num_epochs=None`` streams forever. Batches never span two epochs; the last batch of an
    epoch is shorter unless ``drop_last``. :meth:`take` hands out single tasks across epoch
    boundaries (for refilling groups). Iterating the stream yields batches until it is exhausted.
    """

    def __init__(
        self,
        reader: TaskReader,
        split: str,
        *,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        shuffle_buffer_size: int = 10_000,
        num_epochs: int | None = 1,
        drop_last: bool = False,
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if shuffle_buffer_size <= 0:
            raise ValueError(f"shuffle_buffer_size must be positive, got {shuffle_buffer_size}")
        if num_epochs is not None and num_epochs <= 0:
            raise ValueError(f"num_epochs must be positive or None (forever), got {num_epochs}")
        self.reader = reader
        self.split = split
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.shuffle_buffer_size = shuffle_buffer_size
        self.num_epochs = num_epochs
        self.drop_last = drop_last
        self.epoch = 0
        self.offset = 0  # tasks of the current epoch already handed out
        self._iterator: Iterator[Task] | None = None
        self._epoch_had_tasks = False

    # -- the order of one epoch ---------------------------------------------------------------
    def _epoch_order(self, epoch: int) -> Iterator[Task]:
        tasks = iter(self.reader.iter_tasks(self.split))
        if not self.shuffle:
            return tasks
        # A string seed is hashed with SHA-512 by random.Random: stable across processes/versions.
        rng = random.Random(f"ajet-task-stream|{self.seed}|{epoch}")
        return shuffled(tasks, rng, self.shuffle_buffer_size)

    def _open_epoch(self) -> None:
        self._iterator = self._epoch_order(self.epoch)
        if self.offset:
            skipped = sum(1 for _ in islice(self._iterator, self.offset))
            if skipped < self.offset:
                raise TaskStreamStateError(
                    f"saved position is task {self.offset} of epoch {self.epoch}, but split "
                    f"{self.split!r} now has only {skipped} tasks: the data changed since the "
                    "checkpoint; resume with the same data or start a fresh run"
                )
            self._epoch_had_tasks = True
        else:
            self._epoch_had_tasks = False

    def _next_in_epoch(self) -> Task | None:
        """The next task of the current epoch, or None at its end (without advancing)."""
        if self._iterator is None:
            self._open_epoch()
        assert self._iterator is not None
        task = next(self._iterator, None)
        if task is None:
            if not self._epoch_had_tasks:
                raise EmptySplitError(
                    f"split {self.split!r} of reader {type(self.reader).__name__} yielded no "
                    "tasks; check the reader's paths and split names"
                )
            return None
        self._epoch_had_tasks = True
        return task

    def _advance_epoch(self) -> bool:
        """Move to the next epoch; False when the stream is exhausted."""
        if self.num_epochs is not None and self.epoch + 1 >= self.num_epochs:
            self.epoch, self.offset = self.num_epochs, 0
            self._iterator = None
            return False
        self.epoch += 1
        self.offset = 0
        self._iterator = None
        return True

    @property
    def exhausted(self) -> bool:
        return self.num_epochs is not None and self.epoch >= self.num_epochs

    # -- public API ---------------------------------------------------------------------------
    def next_batch(self) -> list[Task] | None:
        """The next batch of the current epoch (moving to the next epoch first when this one is
        used up), or None when the stream is exhausted."""
        while not self.exhausted:
            batch: list[Task] = []
            while len(batch) < self.batch_size:
                task = self._next_in_epoch()
                if task is None:
                    break
                batch.append(task)
            if len(batch) == self.batch_size or (batch and not self.drop_last):
                self.offset += len(batch)
                if len(batch) < self.batch_size:
                    self._advance_epoch()
                return batch
            # End of the epoch (an empty or dropped remainder): continue with the next one.
            if not self._advance_epoch():
                return None
        return None

    def take(self, count: int) -> list[Task]:
        """Up to ``count`` next tasks, crossing epoch boundaries (fewer only when exhausted)."""
        tasks: list[Task] = []
        while len(tasks) < count and not self.exhausted:
            task = self._next_in_epoch()
            if task is None:
                self._advance_epoch()
                continue
            self.offset += 1
            tasks.append(task)
        return tasks

    def __iter__(self) -> Iterator[list[Task]]:
        while (batch := self.next_batch()) is not None:
            yield batch

    # -- checkpoints --------------------------------------------------------------------------
    def _settings(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "shuffle": self.shuffle,
            "seed": self.seed,
            "shuffle_buffer_size": self.shuffle_buffer_size,
        }

    def state_dict(self) -> dict[str, Any]:
        """The position, plus the settings that decide the order (checked on load)."""
        return {
            "version": STATE_VERSION,
            "epoch": self.epoch,
            "offset": self.offset,
            **self._settings(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise TaskStreamStateError(
                f"not a task-stream state of version {STATE_VERSION}: {state!r:.200}; the "
                "checkpoint is corrupt or from another AgentJet version"
            )
        mismatched = {
            key: (state.get(key), value)
            for key, value in self._settings().items()
            if state.get(key) != value
        }
        if mismatched:
            details = ", ".join(f"{k}: saved {s!r}, now {n!r}" for k, (s, n) in mismatched.items())
            raise TaskStreamStateError(
                f"the checkpoint's task order does not match this run ({details}); resume with "
                "the settings the run started with"
            )
        epoch, offset = state.get("epoch"), state.get("offset")
        if not isinstance(epoch, int) or not isinstance(offset, int) or epoch < 0 or offset < 0:
            raise TaskStreamStateError(
                f"bad task-stream position epoch={epoch!r} offset={offset!r}"
            )
        self.epoch, self.offset = epoch, offset
        self._iterator = None

    def close(self) -> None:
        self._iterator = None
