"""An AgentJet-style AgentScope 1.x workflow whose agent is called as ``agent(...)`` and then
waits on an operator who never answers (a stuck tool, a human in the loop). AgentScope turns the
timeout's cancellation into an "I noticed that you have interrupted me" reply, and the workflow
carries on and returns a reward as if nothing happened."""

import asyncio

from agentscope.agent import ReActAgent
from agentscope.formatter import OpenAIChatFormatter
from agentscope.memory import InMemoryMemory
from agentscope.message import Msg

from ajet import AjetTuner, Workflow, WorkflowOutput, WorkflowTask


class WaitsForTheOperator(ReActAgent):
    async def reply(self, msg=None, structured_model=None):
        answer = await super().reply(msg)
        await asyncio.Event().wait()  # the operator never answers
        return answer


class StuckReact(Workflow):
    name: str = "stuck_react"

    async def execute(self, workflow_task: WorkflowTask, tuner: AjetTuner) -> WorkflowOutput:
        agent = WaitsForTheOperator(
            name="helper",
            sys_prompt="You are a helpful assistant.",
            model=tuner.as_agentscope_model(),
            formatter=OpenAIChatFormatter(),
            memory=InMemoryMemory(),
            max_iters=1,
        )
        reply = await agent(Msg("user", workflow_task.task.main_query, "user"))
        return WorkflowOutput(reward=1.0, metadata={"final_answer": reply.get_text_content()})
