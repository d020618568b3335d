"""A math agent written with LangChain's ``create_agent`` and a sandboxed Python tool.

The workflow is ordinary LangChain code; the only AgentJet-specific line is where the chat model
comes from (``tuner.as_langchain_chat_model()``). The model may call ``run_python`` (a subprocess
with time and memory limits and no network); its final answer goes in \\boxed{} and the
``math_answer`` judger compares it with the reference.
"""

from __future__ import annotations

from ajet_plugins_std.tools.python_sandbox import PYTHON_TOOL, run_python
from langchain.agents import create_agent
from langchain.agents.middleware import ModelCallLimitMiddleware
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import StructuredTool

from ajet import AjetTuner, Workflow, WorkflowOutput, WorkflowTask

SYSTEM_PROMPT = (
    "You are a careful math assistant. You may call the run_python tool to compute. "
    "Give the final answer as \\boxed{answer}."
)


def python_tool(timeout: float) -> StructuredTool:
    """``run_python`` as a LangChain tool, with the same name, description and schema."""
    spec = PYTHON_TOOL["function"]

    async def run(code: str) -> str:
        return (await run_python(code, timeout=timeout)).as_tool_output()

    return StructuredTool.from_function(
        coroutine=run,
        name=spec["name"],
        description=spec["description"],
        args_schema=spec["parameters"],
    )


class LangChainMathAgent(Workflow):
    def __init__(self, max_turns: int = 3, tool_timeout: float = 5.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_turns, self.tool_timeout = max_turns, tool_timeout

    async def execute(self, task: WorkflowTask, tuner: AjetTuner) -> WorkflowOutput:
        agent = create_agent(
            tuner.as_langchain_chat_model(),
            tools=[python_tool(self.tool_timeout)],
            system_prompt=SYSTEM_PROMPT,
            # At most max_turns model calls; then the episode ends with what the model said last.
            middleware=[ModelCallLimitMiddleware(run_limit=self.max_turns, exit_behavior="end")],
        )
        state = await agent.ainvoke({"messages": [HumanMessage(task.task.main_query)]})
        messages = state["messages"]
        tool_calls = sum(isinstance(m, ToolMessage) for m in messages)
        final = next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)
        answer = final.text if final is not None else ""
        return WorkflowOutput(
            metadata={"final_answer": answer, "tool_calls": tool_calls},
            log_metrics={"tool_calls": float(tool_calls)},
        )
