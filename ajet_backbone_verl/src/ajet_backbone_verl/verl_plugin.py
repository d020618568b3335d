"""verl's plugin entry point (group ``verl.plugins``): importing ``verl`` loads it in every verl
process, including Ray workers, which registers the ``ajet`` agent loop and advantage estimator
by name before verl looks them up."""

from __future__ import annotations

import ajet_backbone_verl.advantage
import ajet_backbone_verl.agent_loop  # noqa: F401 - registers the "ajet" agent loop
