"""A math agent written as an AgentScope 2.x ``Agent`` with a sandboxed Python tool.

The workflow is ordinary AgentScope code; the only AgentJet-specific line is where the chat model
comes from (``tuner.as_agentscope_model()``). The model may call ``run_python`` (a subprocess
with time and memory limits and no network); its final answer goes in \\boxed{} and the
``math_answer`` judger compares it with the reference.
"""

from __future__ import annotations

from agentscope.agent import Agent, InjectionConfig, ReActConfig
from agentscope.message import Msg, TextBlock
from agentscope.permission import PermissionBehavior, PermissionDecision
from agentscope.tool import FunctionTool, Toolkit
from ajet_plugins_std.tools.python_sandbox import PYTHON_TOOL, run_python

from ajet import AjetTuner, Workflow, WorkflowOutput, WorkflowTask

SYSTEM_PROMPT = (
    "You are a careful math assistant. You may call the run_python tool to compute. "
    "Give the final answer as \\boxed{answer}."
)


def python_tool(timeout: float, calls: list[str]) -> FunctionTool:
    """``run_python`` as an AgentScope tool, with the same name, description and schema."""
    spec = PYTHON_TOOL["function"]

    async def run(code: str) -> str:
        calls.append(code)
        return (await run_python(code, timeout=timeout)).as_tool_output()

    return FunctionTool(
        run,
        name=spec["name"],
        description=spec["description"],
        input_schema=spec["parameters"],
        # The sandbox is the safety boundary, and an episode has no user to ask.
        permission=PermissionDecision(
            behavior=PermissionBehavior.ALLOW,
            message="run_python runs in a sandbox (time and memory limits, no network)",
        ),
    )


class AgentScopeMathAgent(Workflow):
    def __init__(self, max_turns: int = 3, tool_timeout: float = 5.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_turns, self.tool_timeout = max_turns, tool_timeout

    async def execute(self, task: WorkflowTask, tuner: AjetTuner) -> WorkflowOutput:
        tool_calls: list[str] = []
        agent = Agent(
            name="math_solver",
            system_prompt=SYSTEM_PROMPT,
            model=tuner.as_agentscope_model(),
            toolkit=Toolkit(tools=[python_tool(self.tool_timeout, tool_calls)]),
            react_config=ReActConfig(max_iters=self.max_turns),
            # No current-time reminder: it changes every prompt and teaches the policy nothing.
            injection_config=InjectionConfig(inject_runtime_state=False),
        )
        query = Msg(name="user", content=[TextBlock(text=task.task.main_query)], role="user")
        reply = await agent.reply(query)
        return WorkflowOutput(
            metadata={
                "final_answer": reply.get_text_content() or "",
                "tool_calls": len(tool_calls),
            },
            log_metrics={"tool_calls": float(len(tool_calls))},
        )
