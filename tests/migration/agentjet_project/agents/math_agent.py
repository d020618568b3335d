"""An AgentJet-style workflow, written against AgentJet's API and left exactly as AgentJet users
write it: AgentJet's imports, its ``execute(workflow_task, model_tuner)`` signature, the raw
OpenAI SDK client from the tuner, and a judge that reads ``metadata["final_answer"]``."""

from ajet import AjetTuner, Workflow, WorkflowOutput, WorkflowTask


class ArithmeticAgent(Workflow):
    name: str = "arithmetic_agent"
    system_prompt: str = "Solve the problem. Put the final answer in \\boxed{}."

    async def execute(self, workflow_task: WorkflowTask, model_tuner: AjetTuner) -> WorkflowOutput:
        client = model_tuner.as_raw_openai_sdk_client()
        messages = [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": workflow_task.task.main_query},
        ]
        reply = await client.chat.completions.create(messages=messages)
        messages.append({"role": "assistant", "content": reply.choices[0].message.content})
        messages.append(
            {"role": "user", "content": "Check your answer and give it again in \\boxed{}."}
        )
        second = await client.chat.completions.create(messages=messages)
        return WorkflowOutput(
            reward=None, metadata={"final_answer": second.choices[0].message.content}
        )
