"""``from ajet import bp; bp("TAG")``: AgentJet's conditional breakpoint.

``bp(tag)`` stops in the debugger (``breakpoint()``, so ``PYTHONBREAKPOINT`` picks the debugger)
when the ``AJET_DEBUG`` environment variable names the tag (a comma-separated list; ``all`` for
every tag) and does nothing otherwise, so the calls can stay in a workflow that trains. With
``once=True`` a tag stops only the first time in a process. The debug backbone runs workflows in
the launching process, so ``AJET_DEBUG=TAG ajet --conf ... --backbone debug`` stops there.
"""

from __future__ import annotations

import os

_hit: set[str | None] = set()


def bp(tag: str | None = None, once: bool = True) -> None:
    wanted = {t.strip() for t in os.environ.get("AJET_DEBUG", "").split(",") if t.strip()}
    if not wanted or not ("all" in wanted or (tag is not None and tag in wanted)):
        return
    if once and tag in _hit:
        return
    _hit.add(tag)
    breakpoint()  # noqa: T100 - the whole point of bp()
