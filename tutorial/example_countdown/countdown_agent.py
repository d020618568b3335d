"""Countdown: one call; the judger (``countdown`` from ajet-plugins-std) checks the equation."""

from __future__ import annotations

from ajet_plugins_std.envs.countdown import SYSTEM_PROMPT, CountdownPuzzle

from ajet import AjetTuner, Workflow, WorkflowOutput, WorkflowTask


class CountdownAgent(Workflow):
    async def execute(self, task: WorkflowTask, tuner: AjetTuner) -> WorkflowOutput:
        metadata = task.task.metadata
        puzzle = CountdownPuzzle(target=int(metadata["target"]), numbers=tuple(metadata["nums"]))
        client = tuner.as_raw_openai_sdk_client()
        reply = await client.chat.completions.create(
            messages=[
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": puzzle.prompt()},
            ]
        )
        # reward=None: the configured judger scores the answer.
        return WorkflowOutput(metadata={"final_answer": reply.choices[0].message.content or ""})
