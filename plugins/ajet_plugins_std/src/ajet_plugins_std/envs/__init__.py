"""Environments shared by the tutorials and the reference env-service server.

* :mod:`ajet_plugins_std.envs.frozenlake` — a grid walk (multi-turn);
* :mod:`ajet_plugins_std.envs.countdown` — reach a target number with arithmetic (one turn);
* :mod:`ajet_plugins_std.envs.server` — both behind AgentJet's HTTP env-service protocol;
* :mod:`ajet_plugins_std.envs.client` — the protocol's client and the per-episode handle a
  workflow receives as ``WorkflowTask.gym_env``.
"""
