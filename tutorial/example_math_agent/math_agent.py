"""A math agent on the raw OpenAI SDK with a sandboxed Python tool.

The model may call ``run_python`` (a subprocess with time and memory limits and no network) as
often as it likes within ``max_turns``; its final answer goes in \\boxed{} and the
``math_answer`` judger compares it with the reference by mathematical equivalence.
"""

from __future__ import annotations

import json

from ajet_plugins_std.tools.python_sandbox import PYTHON_TOOL, run_python

from ajet import AjetTuner, Workflow, WorkflowOutput, WorkflowTask

SYSTEM_PROMPT = (
    "You are a careful math assistant. You may call the run_python tool to compute. "
    "Give the final answer as \\boxed{answer}."
)


class MathToolAgent(Workflow):
    def __init__(self, max_turns: int = 4, tool_timeout: float = 5.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_turns, self.tool_timeout = max_turns, tool_timeout

    async def execute(self, task: WorkflowTask, tuner: AjetTuner) -> WorkflowOutput:
        client = tuner.as_raw_openai_sdk_client()
        messages = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": task.task.main_query},
        ]
        tool_calls_made = 0
        answer = ""
        for _ in range(self.max_turns):
            reply = await client.chat.completions.create(messages=messages, tools=[PYTHON_TOOL])
            message = reply.choices[0].message
            messages.append(message.model_dump(exclude_none=True))
            if not message.tool_calls:
                answer = message.content or ""
                break
            for call in message.tool_calls:
                tool_calls_made += 1
                output = await self._run_tool(call.function.name, call.function.arguments)
                messages.append({"role": "tool", "tool_call_id": call.id, "content": output})
        return WorkflowOutput(
            metadata={"final_answer": answer, "tool_calls": tool_calls_made},
            log_metrics={"tool_calls": float(tool_calls_made)},
        )

    async def _run_tool(self, name: str, arguments: str) -> str:
        if name != "run_python":
            return f"Error: unknown tool {name!r}; the only tool is run_python"
        try:
            code = json.loads(arguments)["code"]
        except (json.JSONDecodeError, KeyError, TypeError):
            return 'Error: arguments must be JSON like {"code": "print(1+1)"}'
        result = await run_python(str(code), timeout=self.tool_timeout)
        return result.as_tool_output()
