"""Run one trinity config and exit with its stage's outcome.

``python -m trinity.cli.launcher run`` returns 0 even when the explorer or trainer failed: it
ignores the ``StageStatus`` that ``run_stage`` reports. ``ajet train --backbone trinity`` runs this
module instead, which takes the same steps as trinity's ``run`` command for a single-stage config
(plugins, ``load_config``, ``check_and_update``, ``run_stage``) and exits 1 with trinity's error
when the stage did not succeed.

    python -m ajet_backbone_trinity.run_trinity <run>/trinity.yaml
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(
            "usage: python -m ajet_backbone_trinity.run_trinity TRINITY_CONFIG.yaml",
            file=sys.stderr,
        )
        return 2
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
    status = run_stage(config)
    if status.success:
        return 0
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
