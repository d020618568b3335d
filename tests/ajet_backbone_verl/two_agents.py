"""A two-agent OpenAI-SDK workflow for the verl tests: a solver answers, then a checker (another
agent, trained too) reviews the answer. Each episode therefore yields two samples."""

from __future__ import annotations

from ajet import AjetTuner, Workflow, WorkflowOutput, WorkflowTask


class SolverAndChecker(Workflow):
    async def execute(self, task: WorkflowTask, tuner: AjetTuner) -> WorkflowOutput:
        solver = tuner.as_raw_openai_sdk_client(agent_name="solver")
        checker = tuner.as_raw_openai_sdk_client(agent_name="checker")
        answer = await solver.chat.completions.create(
            messages=[{"role": "user", "content": task.task.main_query}], max_tokens=12
        )
        text = answer.choices[0].message.content or ""
        review = await checker.chat.completions.create(
            messages=[{"role": "user", "content": f"Is this right? {text}"}], max_tokens=12
        )
        return WorkflowOutput(
            metadata={"final_answer": text + " " + (review.choices[0].message.content or "")}
        )
