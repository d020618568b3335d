"""verl's plugin entry point (group ``verl.plugins``): importing ``verl`` loads it in every verl
process, including Ray workers, which registers the ``ajet`` agent loop and advantage estimator
by name before verl looks them up, and the CPU rollout engine (its platform and patches only in
a CPU-engine run: :mod:`ajet_backbone_verl.cpu.registration`).

verl swallows a plugin's import error (logged at DEBUG level), which would surface much later as
"unknown agent loop 'ajet'"; printing it here names the real cause in the worker's log.
"""

from __future__ import annotations

import sys
import traceback

try:
    import ajet_backbone_verl.advantage
    import ajet_backbone_verl.agent_loop  # noqa: F401 - registers the "ajet" agent loop
    from ajet_backbone_verl.cpu import registration

    registration.register()
except Exception:
    print(
        "ajet_backbone_verl: verl plugin failed to load:\n" + traceback.format_exc(),
        file=sys.stderr,
    )
    raise
