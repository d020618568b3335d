"""Episodes for workers anywhere (``rollout.isolation: remote``): a leased queue
(``queue``), its HTTP API (``api``), the runner's executor and the run's local workers
(``executor``), and the per-run wiring (``service``). See docs/remote_agents.md."""
