"""Workflows for the asynchronous-training tests.

``OneSlowTask``: one call to the model, then a reward from the reply. The task whose id is
``slow`` holds its episode open after its call until the run has logged ``SLOW_UNTIL_STEPS``
steps (read from ``metrics.jsonl`` under ``$AJET_TEST_RUNS``), or for ``SLOW_LIMIT_S`` at most:
its tokens are sampled by version 0 and reach the trainer several versions later, whatever the
machine's speed. With ``$AJET_TEST_KILL_AT_STEPS`` set, that episode kills its own process
(SIGKILL, as an out-of-memory killer would) once the run has logged that many steps: a crash at a
known point, with the slow group in flight.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from ajet import AjetTuner, Workflow, WorkflowOutput, WorkflowTask

SLOW_UNTIL_STEPS = 3
SLOW_LIMIT_S = 300.0


def logged_steps(runs: Path) -> int:
    return max(
        (len(path.read_text().splitlines()) for path in runs.rglob("metrics.jsonl")), default=0
    )


class OneSlowTask(Workflow):
    async def execute(self, task: WorkflowTask, tuner: AjetTuner) -> WorkflowOutput:
        client = tuner.as_raw_openai_sdk_client()
        reply = await client.chat.completions.create(
            messages=[{"role": "user", "content": task.task.main_query}], max_tokens=8
        )
        text = reply.choices[0].message.content or ""
        if task.task.task_id == "slow":
            runs = Path(os.environ["AJET_TEST_RUNS"])
            kill_at = int(os.environ.get("AJET_TEST_KILL_AT_STEPS", "0"))
            deadline = time.monotonic() + SLOW_LIMIT_S
            while True:
                logged = logged_steps(runs)
                # Checked first: the tiny model's steps can log two lines within one poll, past
                # both kill_at and SLOW_UNTIL_STEPS.
                if kill_at and logged >= kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                if logged >= SLOW_UNTIL_STEPS or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
        # Rewards that vary within a group, so advantages are non-zero.
        return WorkflowOutput(reward=float(len(text) % 3) / 2.0, is_success=len(text) % 3 == 0)
