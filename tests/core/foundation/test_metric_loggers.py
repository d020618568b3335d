"""Built-in metric loggers (registered through ajet_register_loggers) and the metric-name doc."""

from __future__ import annotations

import math
from pathlib import Path

from ajet_core import metrics
from ajet_core.metric_loggers.jsonl import read_metrics

DOCS = Path(__file__).resolve().parents[3] / "docs" / "metrics.md"


def test_every_metric_name_is_documented():
    text = DOCS.read_text()
    missing = [name for name in metrics.all_metric_names() if f"`{name}`" not in text]
    assert not missing, f"add these to docs/metrics.md: {missing}"
    for what in metrics.AGENT_METRICS:
        assert f"`agent/<agent>/{what}`" in text


def test_jsonl_and_tensorboard_loggers_write_what_they_are_given(ajet_plugins, tmp_path):
    loggers = [
        ajet_plugins.load_object("logger", name)(tmp_path)
        for name in ("jsonl", "tensorboard", "console")
    ]
    for step in (1, 2):
        for logger in loggers:
            logger.log(
                step, {metrics.REWARD_MEAN: 0.25 * step, metrics.LOSS: float("nan"), "note": "x"}
            )
    for logger in loggers:
        logger.close()

    rows = read_metrics(tmp_path)
    assert [r["step"] for r in rows] == [1, 2]
    assert rows[1][metrics.REWARD_MEAN] == 0.5 and rows[0][metrics.LOSS] is None

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars(metrics.REWARD_MEAN)] == [(1, 0.25), (2, 0.5)]
    assert all(math.isnan(e.value) for e in events.Scalars(metrics.LOSS))
