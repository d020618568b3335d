"""The episode spool: episodes finished in worker processes become a run's metrics and records.

(The verl and trinity backbones' tests run it with real episodes in their environments.)"""

from __future__ import annotations

from pathlib import Path

from ajet_core import metrics as m
from ajet_core.config.models import AjetConfig
from ajet_core.loggers import LoggerSet
from ajet_core.metric_loggers.jsonl import JsonlLogger, read_metrics
from ajet_core.schema import EpisodeRecord, Sample, Task
from ajet_core.training.episode_spool import EpisodeSpool, append_episodes
from ajet_core.training.records import read_records


def episode(
    task_id: str, reward: float, *, trained: bool = True, error: str | None = None
) -> EpisodeRecord:
    record = EpisodeRecord(
        episode_id=f"{task_id}-{reward}",
        task=Task(task_id=task_id),
        group_key=f"g/{task_id}",
        reward=None if error else reward,
        is_success=reward > 0,
        error=error,
    )
    record.samples = (
        []
        if error
        else [Sample(input_ids=[1, 2, 3], loss_mask=[0, 1, 1], old_logprobs=[0.0, -1.0, -2.0])]
    )
    record.metadata["ajet_trained"] = trained and not error
    record.finished_at = record.started_at + 1.0
    return record


def test_steps_are_logged_once_over_in_order_and_their_files_removed(tmp_path: Path):
    spool_dir = tmp_path / "spool"
    append_episodes(spool_dir, "train", 1, [episode("a", 1.0), episode("a", 0.0)])
    append_episodes(
        spool_dir, "train", 1, [episode("b", 0.0, error="workflow raised")]
    )  # another worker
    append_episodes(spool_dir, "eval", 1, [episode("v", 1.0, trained=False)])
    append_episodes(spool_dir, "train", 2, [episode("c", 1.0)])
    spool = EpisodeSpool(
        spool_dir, tmp_path, AjetConfig(), LoggerSet({"jsonl": JsonlLogger(tmp_path)})
    )

    assert spool.newest_train_step() == 2
    spool.flush(up_to=1)
    rows = read_metrics(tmp_path)
    assert [row["step"] for row in rows] == [1, 1]  # training before evaluation
    assert (
        rows[0][m.EPISODES] == 3
        and rows[0][m.EPISODES_FAILED] == 1
        and rows[0][m.REWARD_MEAN] == 0.5
    )
    assert rows[0][m.SAMPLES] == 2 and rows[1][m.EVAL_PASS_AT_1] == 1.0
    assert len(list(read_records(tmp_path / "records" / "train_step_000001.jsonl.gz"))) == 3
    assert [p.name for p in spool_dir.iterdir()] == ["train_step_000002"]

    spool.close()  # the run is over: the last step is complete too
    assert [row["step"] for row in read_metrics(tmp_path)] == [1, 1, 2]
    assert not list(spool_dir.iterdir())
