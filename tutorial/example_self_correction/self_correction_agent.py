"""Self-correction after verifier feedback, always ``turns`` dependent LLM calls per episode.

The model answers; a verifier says whether that answer is right, too high or too low, and asks
the question again; the model answers again, and so on for ``turns`` calls (3 by default). The
last reply is the final answer. Every call depends on the earlier ones: the verifier's message is
about the model's own previous answer, so a right answer must be kept and a wrong one revised.

Every call extends the previous conversation (its messages plus the reply), so the gateway reuses
the sampled tokens and the ``timeline_merge`` tracker merges the turns into one sample.
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
    """The verifier's turn: a verdict on the last answer, then the question again."""
    if answer == truth:
        return f"Yes, {answer} is right. {question}"
    if answer is None:
        return f"I could not find a number in your answer. Try again. {question}"
    return f"No, {answer} is too {'high' if answer > truth else 'low'}. Try again. {question}"


def streak_reward(answers: list[int | None], truth: int) -> float:
    """The share of turns, counted back from the last, that were right in a row: 1 for a right
    first answer kept to the end, 1/turns for a right final answer only, 0 for a wrong final
    answer. It is positive exactly when the episode succeeds, and earlier right answers that are
    kept earn more, so the policy learns to be right first and to revise after the feedback."""
    streak = 0
    for answer in reversed(answers):
        if answer != truth:
            break
        streak += 1
    return streak / len(answers)


class SelfCorrectionAgent(Workflow):
    def __init__(self, turns: int = 3, max_tokens: int = 32, **kwargs) -> None:
        super().__init__(**kwargs)
        if turns < 2:
            raise ValueError(
                f"workflow.options.turns must be at least 2 (an answer, the verifier's feedback "
                f"and a revised answer), got {turns}"
            )
        self.turns, self.max_tokens = turns, max_tokens

    async def execute(self, task: WorkflowTask, tuner: AjetTuner) -> WorkflowOutput:
        question, truth = task.task.main_query, int(task.task.metadata["answer"])
        client = tuner.as_raw_openai_sdk_client()
        messages: list[dict] = [{"role": "user", "content": question}]
        answers: list[int | None] = []
        for turn in range(self.turns):
            if turn:
                messages.append({"role": "user", "content": feedback(answers[-1], truth, question)})
            reply = await client.chat.completions.create(
                messages=messages, max_tokens=self.max_tokens
            )
            text = reply.choices[0].message.content or ""
            messages.append({"role": "assistant", "content": text})
            answers.append(last_number(text))
        right = [a == truth for a in answers]
        return WorkflowOutput(
            reward=streak_reward(answers, truth),
            is_success=right[-1],
            metadata={"answers": answers, "answer": truth},
            # Both keys are documented (docs/metrics.md): the framework turns them into
            # turns/success_at_turn/<k> and turns/parse_failures in metrics.jsonl.
            log_metrics={
                "turn_success": [float(r) for r in right],
                "parse_failures": float(sum(a is None for a in answers)),
            },
        )
