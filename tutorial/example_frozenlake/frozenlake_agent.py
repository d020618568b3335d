"""A multi-turn FrozenLake agent: one conversation, one LLM call per move.

Each call's messages extend the previous call's messages and reply, so the gateway reuses the
exact sampled tokens (no retokenization) and the timeline tracker merges the whole episode into
one training sample.
"""

from __future__ import annotations

from ajet_plugins_std.envs.frozenlake import FrozenLakeEnv

from ajet import AjetTuner, Workflow, WorkflowOutput, WorkflowTask


class FrozenLakeAgent(Workflow):
    def __init__(self, max_steps: int = 8, size: int = 4, max_tokens: int = 96, **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_steps, self.size, self.max_tokens = max_steps, size, max_tokens

    async def execute(self, task: WorkflowTask, tuner: AjetTuner) -> WorkflowOutput:
        env = FrozenLakeEnv(
            seed=int(task.task.metadata["seed"]), size=self.size, max_steps=self.max_steps
        )
        messages = env.reset()
        client = tuner.as_raw_openai_sdk_client()
        outcome = "out_of_steps"
        for _ in range(self.max_steps):
            reply = await client.chat.completions.create(
                messages=messages, max_tokens=self.max_tokens
            )
            text = reply.choices[0].message.content or ""
            messages.append({"role": "assistant", "content": text})
            result = env.step(text)
            if result.done:
                outcome = result.info.get("outcome", outcome)
                break
            messages.append({"role": "user", "content": result.observation})
        score = env.evaluate()
        return WorkflowOutput(
            reward=score,
            is_success=score == 1.0,
            metadata={"outcome": outcome, "moves": env.steps},
            log_metrics={"moves": float(env.steps)},
        )
