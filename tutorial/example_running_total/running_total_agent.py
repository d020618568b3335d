"""A three-turn running total: the model adds, the environment gives the next number, and the
model must add it to its own previous answer.

Every call extends the previous conversation (its messages plus the reply), so the gateway reuses
the sampled tokens and the ``timeline_merge`` tracker merges the three calls into one sample.
The environment never reveals the true total, so a wrong early answer carries into later turns:
the calls depend on each other.
"""

from __future__ import annotations

import re

from ajet import AjetTuner, Workflow, WorkflowOutput, WorkflowTask

NUMBER = re.compile(r"-?\d+")


def last_number(text: str) -> int | None:
    """The reply's answer: its last integer, or None when it has none (a parse failure)."""
    found = NUMBER.findall(text)
    return int(found[-1]) if found else None


def turn_questions(start: int, adds: list[int]) -> list[str]:
    first, *rest = adds
    return [f"What is {start} + {first}?"] + [
        f"Now add {n} to that total. What is the new total?" for n in rest
    ]


class RunningTotalAgent(Workflow):
    def __init__(self, max_tokens: int = 32, **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_tokens = max_tokens

    async def execute(self, task: WorkflowTask, tuner: AjetTuner) -> WorkflowOutput:
        meta = task.task.metadata
        totals: list[int] = [int(t) for t in meta["totals"]]
        client = tuner.as_raw_openai_sdk_client()
        messages: list[dict] = []
        answers: list[int | None] = []
        for question in turn_questions(int(meta["start"]), [int(n) for n in meta["adds"]]):
            messages.append({"role": "user", "content": question})
            reply = await client.chat.completions.create(
                messages=messages, max_tokens=self.max_tokens
            )
            text = reply.choices[0].message.content or ""
            messages.append({"role": "assistant", "content": text})
            answers.append(last_number(text))
        correct = [a == t for a, t in zip(answers, totals, strict=True)]
        # Partial credit per right running total gives GRPO a signal on the way to full success;
        # success is the final total alone.
        return WorkflowOutput(
            reward=sum(correct) / len(correct),
            is_success=correct[-1],
            metadata={"answers": answers, "totals": totals},
            log_metrics={
                "turns_correct": float(sum(correct)),
                "parse_failures": float(sum(a is None for a in answers)),
            },
        )
