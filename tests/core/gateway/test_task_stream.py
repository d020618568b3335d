"""TaskStream: epochs, seeded bounded-memory shuffle, and exact resume from a saved position."""

from __future__ import annotations

import pytest

from ajet_core.data import TaskStream, TaskStreamStateError
from ajet_core.data.task_stream import EmptySplitError
from ajet_core.readers import TaskReader
from ajet_core.schema import Task


class CountingReader(TaskReader):
    """A real reader over ``n`` generated tasks that counts how many it produced at most at once."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.opened = 0

    def iter_tasks(self, split: str):
        self.opened += 1
        for i in range(self.n):
            yield Task(task_id=f"{split}-{i}", main_query=f"q{i}")


def ids(batches):
    return [[t.task_id for t in batch] for batch in batches]


def test_without_shuffle_batches_follow_reader_order_and_last_batch_is_short():
    stream = TaskStream(CountingReader(7), "train", batch_size=3, shuffle=False)
    assert ids(stream) == [
        ["train-0", "train-1", "train-2"],
        ["train-3", "train-4", "train-5"],
        ["train-6"],
    ]
    assert stream.exhausted and stream.next_batch() is None


def test_drop_last_and_epochs():
    stream = TaskStream(
        CountingReader(5), "train", batch_size=2, shuffle=False, num_epochs=2, drop_last=True
    )
    assert ids(stream) == [["train-0", "train-1"], ["train-2", "train-3"]] * 2


def test_each_epoch_is_a_permutation_with_its_own_seeded_order():
    stream = TaskStream(CountingReader(50), "train", batch_size=10, seed=3, num_epochs=2)
    batches = ids(stream)
    epoch0 = [i for b in batches[:5] for i in b]
    epoch1 = [i for b in batches[5:] for i in b]
    expected = sorted(f"train-{i}" for i in range(50))
    assert sorted(epoch0) == expected and sorted(epoch1) == expected
    assert epoch0 != epoch1, "each epoch must be reshuffled"
    assert epoch0 != [f"train-{i}" for i in range(50)], "the split must actually be shuffled"
    again = ids(TaskStream(CountingReader(50), "train", batch_size=10, seed=3, num_epochs=2))
    assert again == batches, "the same seed must give the same order"
    other = ids(TaskStream(CountingReader(50), "train", batch_size=10, seed=4, num_epochs=2))
    assert other != batches


def test_shuffle_buffer_bounds_memory_but_still_mixes():
    # With a buffer of 8, a task can move at most 8 places earlier: proof that only 8 are held.
    stream = TaskStream(CountingReader(200), "train", batch_size=200, seed=1, shuffle_buffer_size=8)
    order = [int(t.task_id.split("-")[1]) for t in stream.next_batch()]
    assert sorted(order) == list(range(200))
    assert order != list(range(200))
    assert all(position >= index - 8 for position, index in enumerate(order))


@pytest.mark.parametrize("stop_after", [0, 1, 4, 5, 9])
def test_resume_sees_exactly_the_tasks_an_uninterrupted_run_sees(stop_after):
    settings = dict(batch_size=4, seed=11, num_epochs=3, shuffle_buffer_size=6)
    uninterrupted = ids(TaskStream(CountingReader(17), "train", **settings))

    first = TaskStream(CountingReader(17), "train", **settings)
    seen = [[t.task_id for t in first.next_batch()] for _ in range(stop_after)]
    saved = first.state_dict()

    resumed = TaskStream(CountingReader(17), "train", **settings)
    resumed.load_state_dict(saved)
    assert seen + ids(resumed) == uninterrupted


def test_take_crosses_epochs_and_resumes():
    stream = TaskStream(CountingReader(3), "train", batch_size=2, shuffle=False, num_epochs=None)
    assert [t.task_id for t in stream.take(5)] == [
        "train-0",
        "train-1",
        "train-2",
        "train-0",
        "train-1",
    ]
    state = stream.state_dict()
    assert (state["epoch"], state["offset"]) == (1, 2)
    resumed = TaskStream(CountingReader(3), "train", batch_size=2, shuffle=False, num_epochs=None)
    resumed.load_state_dict(state)
    assert [t.task_id for t in resumed.next_batch()] == ["train-2"]


def test_mismatched_or_corrupt_state_is_a_clear_error():
    stream = TaskStream(CountingReader(5), "train", batch_size=2, seed=1)
    state = stream.state_dict()
    other = TaskStream(CountingReader(5), "train", batch_size=2, seed=2)
    with pytest.raises(TaskStreamStateError, match=r"seed: saved 1, now 2"):
        other.load_state_dict(state)
    with pytest.raises(TaskStreamStateError, match="corrupt"):
        other.load_state_dict({"epoch": 0})


def test_position_beyond_the_data_is_a_clear_error():
    stream = TaskStream(CountingReader(5), "train", batch_size=2, shuffle=False)
    state = {**stream.state_dict(), "offset": 9}
    shrunk = TaskStream(CountingReader(5), "train", batch_size=2, shuffle=False)
    shrunk.load_state_dict(state)
    with pytest.raises(TaskStreamStateError, match="only 5 tasks"):
        shrunk.next_batch()


def test_empty_split_names_the_split():
    with pytest.raises(EmptySplitError, match="'validation'"):
        TaskStream(CountingReader(0), "validation", batch_size=2).next_batch()


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="batch_size"):
        TaskStream(CountingReader(1), "train", batch_size=0)
    with pytest.raises(ValueError, match="num_epochs"):
        TaskStream(CountingReader(1), "train", batch_size=1, num_epochs=0)
