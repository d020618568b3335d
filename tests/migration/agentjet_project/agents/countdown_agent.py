"""An AgentJet-style Countdown workflow: the prompt is built from the row's metadata (the rows
have no ``question``), and the numbers and target go back in the output's metadata, where
AgentJet's countdown judge reads them."""

from ajet import AjetTuner, Workflow, WorkflowOutput, WorkflowTask


class CountdownAgent(Workflow):
    name: str = "countdown_agent"

    async def execute(self, workflow_task: WorkflowTask, tuner: AjetTuner) -> WorkflowOutput:
        row = workflow_task.task.metadata
        nums, target = row["nums"], row["target"]
        client = tuner.as_raw_openai_sdk_client()
        reply = await client.chat.completions.create(
            messages=[
                {"role": "system", "content": "Give the equation in \\boxed{}."},
                {"role": "user", "content": f"Use {nums} once each to make {target}."},
            ]
        )
        return WorkflowOutput(
            reward=None,
            metadata={
                "final_answer": reply.choices[0].message.content or "",
                "target": target,
                "nums": nums,
            },
        )
