"""The quickstart workflow: one question, one answer; the judger checks the sum."""

from __future__ import annotations

from ajet import AjetTuner, Workflow, WorkflowOutput, WorkflowTask


class AdditionAgent(Workflow):
    async def execute(self, task: WorkflowTask, tuner: AjetTuner) -> WorkflowOutput:
        client = tuner.as_raw_openai_sdk_client()
        reply = await client.chat.completions.create(
            messages=[{"role": "user", "content": task.task.main_query}]
        )
        # reward=None: the `exact_match` judger compares the last number with the true sum.
        return WorkflowOutput(metadata={"final_answer": reply.choices[0].message.content or ""})
