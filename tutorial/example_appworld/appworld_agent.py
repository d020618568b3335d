"""An OpenAI-SDK tool agent for the AppWorld-style apps.

The episode's apps live on the env server (one instance per episode, ``task.gym_env``); every
tool call the model makes is sent there as one ``step`` and its result, or the app's error,
comes back as the tool message. The reply text is never scored: the ``env_service`` judger asks
the server for the state judge's score of the apps' final state.
"""

from __future__ import annotations

# A sibling module: the workflow loader puts this file's folder on sys.path.
from appworld_apps import COMPLETE, action_message, openai_tools

from ajet import AjetTuner, Workflow, WorkflowOutput, WorkflowTask

TOOLS = openai_tools()
NUDGE = f"No API was called. Use the tools to make the changes, then call {COMPLETE}."


class AppWorldAgent(Workflow):
    def __init__(self, max_turns: int = 8, max_tokens: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_turns, self.max_tokens = max_turns, max_tokens

    async def execute(self, task: WorkflowTask, tuner: AjetTuner) -> WorkflowOutput:
        env = task.gym_env
        if env is None:
            raise RuntimeError(
                "AppWorldAgent needs an environment instance: use task_reader.type: env_service "
                "with the appworld server (python tutorial/example_appworld/run.py starts it)"
            )
        client = tuner.as_raw_openai_sdk_client()
        messages = [dict(m) for m in task.task.init_messages]
        extra = {} if self.max_tokens is None else {"max_tokens": self.max_tokens}
        api_calls = api_errors = turns = 0
        completed = False
        while turns < self.max_turns and not completed:
            turns += 1
            reply = await client.chat.completions.create(messages=messages, tools=TOOLS, **extra)
            message = reply.choices[0].message
            messages.append(message.model_dump(exclude_none=True))
            if not message.tool_calls:
                # As in AppWorld, only the completion call ends the task: a text reply is not
                # an answer the apps can see.
                messages.append({"role": "user", "content": NUDGE})
                continue
            for call in message.tool_calls:
                api_calls += 1
                observation, _, completed, info = await env.astep(
                    {
                        "role": "assistant",
                        "content": action_message(call.function.name, call.function.arguments),
                    }
                )
                api_errors += 0 if info.get("ok") else 1
                messages.append({"role": "tool", "tool_call_id": call.id, "content": observation})
                if completed:  # the task is marked done (or the API-call budget is spent)
                    break
        return WorkflowOutput(
            metadata={"api_calls": api_calls, "completed": completed},
            log_metrics={
                "api_calls": float(api_calls),
                "api_errors": float(api_errors),
                "turns": float(turns),
                "completed": float(completed),
            },
        )
