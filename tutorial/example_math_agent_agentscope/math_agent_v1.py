"""The same math agent for AgentScope 1.x: a ``ReActAgent`` (the API AgentJet's own tutorials use).

Only the agent construction differs from ``math_agent.py`` (AgentScope 2.x);
``tuner.as_agentscope_model()`` builds the right chat model for whichever version is installed.
"""

from __future__ import annotations

from agentscope.agent import ReActAgent
from agentscope.formatter import OpenAIChatFormatter
from agentscope.message import Msg, TextBlock
from agentscope.tool import Toolkit, ToolResponse
from ajet_plugins_std.tools.python_sandbox import PYTHON_TOOL, run_python

# ajet_core directly: the trinity environment (where AgentScope 1.x lives) has no
# `ajet` meta-package.
from ajet_core import AjetTuner, Workflow, WorkflowOutput, WorkflowTask

SYSTEM_PROMPT = (
    "You are a careful math assistant. You may call the run_python tool to compute. "
    "Give the final answer as \\boxed{answer}."
)


def python_toolkit(timeout: float, calls: list[str]) -> Toolkit:
    """A toolkit with ``run_python``, declared with the sandbox's own tool schema."""

    async def run_python_tool(code: str) -> ToolResponse:
        calls.append(code)
        output = (await run_python(code, timeout=timeout)).as_tool_output()
        return ToolResponse(content=[TextBlock(type="text", text=output)])

    toolkit = Toolkit()
    toolkit.register_tool_function(run_python_tool, json_schema=PYTHON_TOOL)
    return toolkit


class ReActMathAgent(Workflow):
    def __init__(self, max_turns: int = 3, tool_timeout: float = 5.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_turns, self.tool_timeout = max_turns, tool_timeout

    async def execute(self, task: WorkflowTask, tuner: AjetTuner) -> WorkflowOutput:
        tool_calls: list[str] = []
        agent = ReActAgent(
            name="math_solver",
            sys_prompt=SYSTEM_PROMPT,
            model=tuner.as_agentscope_model(),
            formatter=OpenAIChatFormatter(),
            toolkit=python_toolkit(self.tool_timeout, tool_calls),
            max_iters=self.max_turns,
        )
        agent.set_console_output_enabled(False)  # the rollout printer shows the conversation
        reply = await agent(Msg(name="user", content=task.task.main_query, role="user"))
        return WorkflowOutput(
            metadata={
                "final_answer": reply.get_text_content() or "",
                "tool_calls": len(tool_calls),
            },
            log_metrics={"tool_calls": float(len(tool_calls))},
        )
