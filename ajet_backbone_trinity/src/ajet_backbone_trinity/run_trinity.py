"""Run one trinity config and exit with its stage's outcome.

``python -m trinity.cli.launcher run`` returns 0 even when the explorer or trainer failed: it
ignores the ``StageStatus`` that ``run_stage`` reports. ``ajet train --backbone trinity`` runs this
module instead, which takes the same steps as trinity's ``run`` command for a single-stage config
(plugins, ``load_config``, ``check_and_update``, ``run_stage``) and exits 1 with trinity's error
when the stage did not succeed.

A stage can also report success after its loop died: trinity 0.6's explorer and trainer loops
catch their own exceptions, log them and return as if finished (``explorer/explorer.py:307-309``
"Error in Explorer:", ``trainer/trainer.py:155-157`` "Error in Trainer:"). Those records land in
the actors' log files (``<checkpoint job dir>/log/<actor>.log``, trinity's ``log.save_dir``), so
after the stage this module reads what the run appended there and exits 1 with the logged
traceback when either loop died.

    python -m ajet_backbone_trinity.run_trinity <run>/trinity.yaml
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

# The records trinity 0.6's loops write when they die and return normally (see the module doc).
LOOP_FAILURE_MARKERS = ("Error in Explorer:", "Error in Trainer:")


def log_sizes(log_dir: Path) -> dict[Path, int]:
    """How far each trinity log file already goes (a resumed run appends to the same files)."""
    return (
        {path: path.stat().st_size for path in log_dir.rglob("*.log")} if log_dir.is_dir() else {}
    )


def loop_failures(log_dir: Path, before: dict[Path, int]) -> list[str]:
    """The failure records the explorer's and trainer's loops logged since ``before``.

    Trinity's log formatter repeats the record header (level, time, ``[file:line]``) on every line
    of a multi-line message, so a record is its first line and the lines after it with the same
    header; the headers are dropped from what is returned.
    """
    found = []
    for path in sorted(log_dir.rglob("*.log")) if log_dir.is_dir() else []:
        with path.open("rb") as handle:
            handle.seek(before.get(path, 0))
            lines = handle.read().decode("utf-8", errors="replace").splitlines()
        index = 0
        while index < len(lines):
            line = lines[index]
            marker = next((m for m in LOOP_FAILURE_MARKERS if m in line), None)
            index += 1
            if marker is None:
                continue
            header = line[: line.index(marker)]
            record = [line[len(header) :]]
            while index < len(lines) and header and lines[index].startswith(header):
                record.append(lines[index][len(header) :])
                index += 1
            found.append(f"{path.name}: " + "\n".join(record))
    return found


def uses_cpu_engine(config_path: Path) -> bool:
    """Whether the run's rollout engine is the CPU one (read before trinity is imported)."""
    import yaml

    from ajet_backbone_trinity.cpu.settings import ENGINE_TYPE

    data = yaml.safe_load(config_path.read_text()) or {}
    engine = ((data.get("explorer") or {}).get("rollout_model") or {}).get("engine_type")
    return engine == ENGINE_TYPE


def connect_cpu_run(config: Any) -> None:
    """Connect Ray as trinity's ``run_stage`` would (its own ``ray.init`` then finds it done),
    with the CPU mode's set-up hook for every worker and the engine log's location."""
    import ray

    from ajet_backbone_trinity.cpu import process
    from ajet_backbone_trinity.cpu.settings import ENGINE_LOG_VARIABLE

    env_vars = dict(config.get_envs())
    if os.environ.get(ENGINE_LOG_VARIABLE):
        env_vars[ENGINE_LOG_VARIABLE] = os.environ[ENGINE_LOG_VARIABLE]
    ray.init(
        address=config.cluster.ray_address,
        namespace=config.ray_namespace,
        runtime_env=process.runtime_env(env_vars),
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(
            "usage: python -m ajet_backbone_trinity.run_trinity TRINITY_CONFIG.yaml",
            file=sys.stderr,
        )
        return 2
    cpu_engine = uses_cpu_engine(Path(args[0]))
    if cpu_engine:
        from ajet_backbone_trinity.cpu import process

        # Before trinity's launcher imports its model module, which imports vLLM.
        process.prepare()
    from trinity.cli.launcher import run_stage
    from trinity.common.config import load_config
    from trinity.utils.dlc_utils import is_running
    from trinity.utils.plugin_loader import load_plugins

    load_plugins()
    config = load_config(args[0])
    if config.stages:
        print(
            "ajet: multi-stage trinity configs run through `python -m trinity.cli.launcher run`",
            file=sys.stderr,
        )
        return 2
    if not is_running():
        print(
            "ajet: Ray is not running; `ajet train --backbone trinity` starts a local head unless "
            "backbone.start_ray is false",
            file=sys.stderr,
        )
        return 2
    config.check_and_update()
    if cpu_engine:
        connect_cpu_run(config)
    log_dir = Path(config.log.save_dir)
    before = log_sizes(log_dir)
    status = run_stage(config)
    if status.success:
        failures = loop_failures(log_dir, before)
        if not failures:
            return 0
        print(
            f"ajet: trinity's {status.stage} stage ended, but its loop died (trinity logs the "
            f"error and stops as if finished):\n" + "\n".join(f[-4000:] for f in failures),
            file=sys.stderr,
        )
        return 1
    error = status.error
    detail = (
        f"{error.type_name}: {error.message}\n{error.traceback_text}"
        if error
        else "no error reported"
    )
    print(f"ajet: trinity's {status.stage} stage failed: {detail}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
