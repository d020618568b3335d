"""``ajet view``: a local web page over run folders (token-level records and reward curves)."""

from ajet_core.viewer.app import create_app
from ajet_core.viewer.run_store import RunStore

__all__ = ["RunStore", "create_app"]
