"""Workflows and judgers that misbehave the way real user code does.

They live in a file of their own so that ``rollout.isolation: process`` can import them in its
worker processes by path (``tests/reliability/misbehaving.py:SysExit``). Each makes one real LLM
call on the tiny model first, so the failure happens mid-episode, with a gateway session open.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from pathlib import Path

from ajet_core.judging import Judger, JudgeResult
from ajet_core.workflow import Workflow, WorkflowOutput


async def ask(task, tuner) -> str:
    client = tuner.as_raw_openai_sdk_client()
    reply = await client.chat.completions.create(
        messages=[{"role": "user", "content": task.task.main_query or "hi"}]
    )
    return reply.choices[0].message.content or ""


class Good(Workflow):
    """Answers, and leaves a flag file when the task names one (see ``BlocksTheThread``)."""

    async def execute(self, task, tuner):
        answer = await ask(task, tuner)
        flag = task.task.metadata.get("flag")
        if flag:
            Path(flag).write_text("done")
        return WorkflowOutput(reward=float(len(answer) % 2), metadata={"final_answer": answer})


class ForJudger(Workflow):
    async def execute(self, task, tuner):
        return WorkflowOutput(metadata={"final_answer": await ask(task, tuner)})


class InstantForJudger(Workflow):
    """Returns at once (no LLM call), so a judging timeout test needs only a short timeout."""

    async def execute(self, task, tuner):
        return WorkflowOutput(metadata={"final_answer": task.task.main_query})


class NanReward(Workflow):
    async def execute(self, task, tuner):
        await ask(task, tuner)
        return WorkflowOutput(reward=float("nan"))


class InfReward(Workflow):
    async def execute(self, task, tuner):
        await ask(task, tuner)
        return WorkflowOutput(reward=[1.0, float("inf")])


class StringReward(Workflow):
    async def execute(self, task, tuner):
        await ask(task, tuner)
        return WorkflowOutput(reward="0.5")


class StringSuccess(Workflow):
    async def execute(self, task, tuner):
        await ask(task, tuner)
        return WorkflowOutput(reward=1.0, is_success="no")


class SysExit(Workflow):
    async def execute(self, task, tuner):
        await ask(task, tuner)
        sys.exit(0)


class RaisesKeyboardInterrupt(Workflow):
    async def execute(self, task, tuner):
        await ask(task, tuner)
        raise KeyboardInterrupt


class RaisesCancelled(Workflow):
    async def execute(self, task, tuner):
        await ask(task, tuner)
        raise asyncio.CancelledError()


class OsExit(Workflow):
    async def execute(self, task, tuner):
        await ask(task, tuner)
        os._exit(3)


class SwallowsCancellation(Workflow):
    """Ignores its cancellation and carries on for a while, then claims a reward (the issue's
    workflow ran 40 s past a 15 s timeout and was trained on)."""

    async def execute(self, task, tuner):
        for _ in range(60):
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                pass  # the bug: cancellation swallowed
        return WorkflowOutput(reward=1.0)


class BlocksTheThread(Workflow):
    """A blocking call (time.sleep) in async code: in process isolation the other episodes go on
    meanwhile, which the blocker sees as the flag file another episode writes."""

    async def execute(self, task, tuner):
        flag = Path(task.task.metadata["flag"])
        for _ in range(1200):  # bounded, so a broken isolation fails the test instead of hanging
            if flag.exists():
                break
            time.sleep(0.1)
        return WorkflowOutput(reward=1.0, metadata={"saw_flag": flag.exists()})


class SleepsForever(Workflow):
    async def execute(self, task, tuner):
        await ask(task, tuner)
        time.sleep(3600)


class LeavesAThread(Workflow):
    """Starts a non-daemon thread that never ends (a background poller the author forgot)."""

    async def execute(self, task, tuner):
        answer = await ask(task, tuner)
        stop = threading.Event()
        threading.Thread(target=stop.wait, name="forgotten-poller").start()
        return WorkflowOutput(reward=float(len(answer) % 2))


class NeverReturnsJudger(Judger):
    """A synchronous judge that blocks until released (the test releases it when done)."""

    release = threading.Event()

    def judge(self, task, output):
        self.release.wait()
        return JudgeResult(reward=1.0, is_success=True)


class AsyncHangingJudger(Judger):
    async def ajudge(self, task, output):
        await asyncio.Event().wait()


class NanJudger(Judger):
    def judge(self, task, output):
        return JudgeResult(reward=float("nan"), is_success=True)


class StringJudger(Judger):
    def judge(self, task, output):
        return JudgeResult(reward="0.5", is_success="no")
