"""An AgentJet-style multi-turn workflow written as AgentJet's tutorials write them: a pydantic
``Field`` for ``trainable_targets``, annotated settings, ``tuner.config`` for the YAML's own
sections and AgentJet's multi-turn limit, ``tuner.get_context_tracker().context_overflow`` to end
the loop, a positional ``create(messages)``, and the project's own package imported by path."""

from pydantic import Field

from agents.grid_rules import goal_move, parse_move
from ajet import AjetTuner, Workflow, WorkflowOutput, WorkflowTask


class GridWalk(Workflow):
    name: str = "grid_walk"
    trainable_targets: list[str] = Field(default=["walker"])
    hints: list[str] = Field(default_factory=list)

    async def execute(self, workflow_task: WorkflowTask, tuner: AjetTuner) -> WorkflowOutput:
        config = tuner.config
        max_steps = config.ajet.rollout.multi_turn.max_steps
        size = config.grid_world.size
        seed = workflow_task.task.metadata["random_number"]
        walker = tuner.as_raw_openai_sdk_client(agent_name="walker", target_tag="walker")
        messages = [
            {"role": "system", "content": f"You walk on a {size}x{size} grid. Answer ```Move```."},
            {"role": "user", "content": f"Puzzle {seed}: which way is the goal?"},
        ]
        reward, steps = 0.0, 0
        for _ in range(max_steps):
            steps += 1
            reply = await walker.chat.completions.create(messages)
            text = reply.choices[0].message.content or ""
            self.hints.append(text[:20])
            if parse_move(text) == goal_move(seed):
                reward = 1.0
                break
            if tuner.get_context_tracker().context_overflow:
                break
            messages += [
                {"role": "assistant", "content": text},
                {"role": "user", "content": "Not there yet. Which way now?"},
            ]
        return WorkflowOutput(
            reward=reward, metadata={"steps": steps, "grid_size": size, "workflow": self.name}
        )
