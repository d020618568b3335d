"""An ordinary workflow, as ``ajet train`` runs it in-process; ``ajet worker`` runs it remotely."""

from __future__ import annotations

import asyncio

from ajet_core import Workflow, WorkflowOutput


class DigitAgent(Workflow):
    # Seconds to think before answering (workflow.options): a slower worker leaves episodes to
    # the others.
    pause_s: float = 0.0

    async def execute(self, task, tuner):
        await asyncio.sleep(self.pause_s)
        client = tuner.as_raw_openai_sdk_client()
        reply = await client.chat.completions.create(
            messages=[{"role": "user", "content": task.task.main_query}]
        )
        text = reply.choices[0].message.content or ""
        return WorkflowOutput(reward=float(any(c.isdigit() for c in text)))
