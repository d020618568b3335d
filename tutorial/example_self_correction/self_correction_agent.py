"""Self-correction after verifier feedback: the model answers, the verifier says whether the
answer is too high or too low, and the model tries again, up to ``max_attempts`` calls.

Every call extends the previous conversation (its messages plus the reply), so the gateway reuses
the sampled tokens and the ``timeline_merge`` tracker merges the attempts into one sample. Each
attempt depends on the earlier ones: the feedback is about the model's own last answer.
"""

from __future__ import annotations

import re

from ajet import AjetTuner, Workflow, WorkflowOutput, WorkflowTask

NUMBER = re.compile(r"-?\d+")


def last_number(text: str) -> int | None:
    """The reply's answer: its last integer, or None when it has none (a parse failure)."""
    found = NUMBER.findall(text)
    return int(found[-1]) if found else None


def feedback(answer: int | None, truth: int, question: str) -> str:
    if answer is None:
        verdict = "I could not find a number in your answer."
    else:
        verdict = f"{answer} is too {'high' if answer > truth else 'low'}."
    return f"That is wrong: {verdict} Try again. {question}"


class SelfCorrectionAgent(Workflow):
    def __init__(self, max_attempts: int = 3, max_tokens: int = 32, **kwargs) -> None:
        super().__init__(**kwargs)
        if max_attempts < 1:
            raise ValueError(
                f"workflow.options.max_attempts must be at least 1, got {max_attempts}"
            )
        self.max_attempts, self.max_tokens = max_attempts, max_tokens

    async def execute(self, task: WorkflowTask, tuner: AjetTuner) -> WorkflowOutput:
        question, truth = task.task.main_query, int(task.task.metadata["answer"])
        client = tuner.as_raw_openai_sdk_client()
        messages: list[dict] = [{"role": "user", "content": question}]
        answers: list[int | None] = []
        for _ in range(self.max_attempts):
            reply = await client.chat.completions.create(
                messages=messages, max_tokens=self.max_tokens
            )
            text = reply.choices[0].message.content or ""
            messages.append({"role": "assistant", "content": text})
            answers.append(last_number(text))
            if answers[-1] == truth:
                break
            messages.append({"role": "user", "content": feedback(answers[-1], truth, question)})
        solved = answers[-1] == truth
        # Earlier success earns more, so the policy learns to be right first and to use the
        # feedback when it is not.
        reward = (self.max_attempts - len(answers) + 1) / self.max_attempts if solved else 0.0
        return WorkflowOutput(
            reward=reward,
            is_success=solved,
            metadata={"answers": answers, "answer": truth},
            log_metrics={
                "attempts": float(len(answers)),
                "parse_failures": float(sum(a is None for a in answers)),
            },
        )
