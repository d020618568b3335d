"""The long-tail workload of benchmarks/async_vs_sync.py: a two-turn agent whose service call waits.

Turn 1: the model answers the quickstart's addition question. Then the workflow calls a remote
service (here a wait, as a real one would be I/O, not CPU) that takes a heavy-tailed time:
lognormal with median ``LONG_TAIL_MEDIAN_S`` and shape ``LONG_TAIL_SIGMA`` (with sigma 1, one
call in twenty takes over five times the median, one in a hundred ten times). The service asks
for the final number alone; turn 2 is the model's reply, which the quickstart judger scores.

The waits come from one random stream per process, seeded by ``LONG_TAIL_SEED``: sync and async
runs draw the same sequence of waits (in the order episodes reach the service).
"""

from __future__ import annotations

import asyncio
import os
import random

from ajet import AjetTuner, Workflow, WorkflowOutput, WorkflowTask

MEDIAN_S = float(os.environ.get("LONG_TAIL_MEDIAN_S", "1.0"))
SIGMA = float(os.environ.get("LONG_TAIL_SIGMA", "1.0"))
_waits = random.Random(int(os.environ.get("LONG_TAIL_SEED", "0")))

FOLLOW_UP = "The service recorded your answer. Reply with the final number only."


class LongTailAgent(Workflow):
    async def execute(self, task: WorkflowTask, tuner: AjetTuner) -> WorkflowOutput:
        client = tuner.as_raw_openai_sdk_client()
        messages = [{"role": "user", "content": task.task.main_query}]
        first = await client.chat.completions.create(messages=messages)
        messages.append({"role": "assistant", "content": first.choices[0].message.content or ""})
        await asyncio.sleep(MEDIAN_S * _waits.lognormvariate(0.0, SIGMA))  # the service call
        messages.append({"role": "user", "content": FOLLOW_UP})
        second = await client.chat.completions.create(messages=messages)
        return WorkflowOutput(metadata={"final_answer": second.choices[0].message.content or ""})
