"""The CPU rollout engine for trinity (``backbone.rollout_engine: cpu``): Trinity-RFT's own
explorer, buffer, synchronizer and verl trainer on a machine without a GPU, for tests and
debugging — not for speed. Only vLLM is replaced.

* :mod:`.settings`  the trinity settings, Ray resources and process environment the mode needs;
* :mod:`.imports`   import-time hooks: a patch applied the moment its module loads, and vLLM's
  names lent to the one trinity module that imports them at load time, to it alone;
* :mod:`.patches`   the upstream lines a CPU breaks, each patched narrowly and named;
* :mod:`.model`     the rollout actor: trinity's ``BaseInferenceModel`` served by the debug
  backbone's engine, loading each new weight version the synchronizer announces;
* :mod:`.process`   what every process of a CPU run runs first (the driver, and Ray's
  ``worker_process_setup_hook`` in every worker).

Nothing here is imported on a GPU run.
"""
