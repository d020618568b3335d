"""The CPU rollout engine for verl (``backbone.rollout_engine: cpu``): verl's own trainer on a
machine without a GPU, for tests and debugging — not for speed.

* :mod:`.platform`  a CPU platform for verl's ``PlatformRegistry``;
* :mod:`.patches`   two verl assumptions a CPU breaks, patched narrowly;
* :mod:`.server`    the rollout server (the debug backbone's ``TransformersEngine`` in a Ray actor);
* :mod:`.replica`   verl's replica and the training worker's weight-sync adapter for it;
* :mod:`.settings`  the verl settings and worker environment the mode needs;
* :mod:`.registration`  what ``import verl`` runs (through our ``verl.plugins`` entry point).
"""
