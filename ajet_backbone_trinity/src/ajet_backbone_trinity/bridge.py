"""Our metrics and token-level records of a trinity run, per explorer step, in the run folder.

Trinity's workflow runners spool every finished episode group
(:mod:`ajet_core.training.episode_spool`, under ``<run>/trinity_episodes/``). When trinity's
explorer logs step N (through :class:`ajet_backbone_trinity.monitor.AjetRunMonitor`), its tasks
are done; the monitor then flushes every step up to N: the core's metrics under the names of
``docs/metrics.md`` in ``<run>/metrics.jsonl`` (and TensorBoard), and the token-level records
``ajet view`` reads. Episodes that finish after their step was logged (trinity's over-rollout)
are logged with the next flush.
"""

from __future__ import annotations

from pathlib import Path

from ajet_backbone_trinity.experiences import placeholder_metrics
from ajet_backbone_trinity.runtime import EPISODES_DIR
from ajet_core.training.episode_spool import EpisodeSpool, run_folder_loggers
from ajet_core.training.run_dir import CONFIG_FILE


def spool_for_run(run_dir: Path) -> EpisodeSpool:
    """The run's spool, with the loggers of its resolved AgentJet config (written at launch)."""
    from ajet_core.config.loader import load_config
    from ajet_core.plugins.manager import get_plugin_manager

    config = load_config(run_dir / CONFIG_FILE).config
    return EpisodeSpool(
        run_dir / EPISODES_DIR,
        run_dir,
        config,
        run_folder_loggers(config, get_plugin_manager(), run_dir),
        # samples/placeholders: the zero-weight experiences sent for episodes without samples
        extra_metrics=placeholder_metrics,
    )
