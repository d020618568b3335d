"""Score a consultation: the information the doctor gathered and the quality of its last question.

An LLM judge at a fixed OpenAI-compatible endpoint (``judger.base_url`` / ``judger.model``: an
``ajet serve`` of SmolLM2, or any hosted model) answers one Yes/No question per criterion through
the standard ``rubric`` judger: one criterion per fact of the case ("did the patient tell the
doctor how long the problem has lasted?") and one about the last question. A reply without a
verdict is asked again and then fails the episode (a counted ``judger_error``), never a silent 0.

Because the patient is simulated, the facts it revealed are also known exactly (``coverage``).
The reward mixes both:

    reward = coverage_weight * coverage + (1 - coverage_weight) * judge score

``coverage_weight: 0`` is the pure LLM judge (use it with a judge model you trust);
``judge_agreement`` says how often the judge's verdict on a fact matched what was revealed.
"""

from __future__ import annotations

import asyncio

from ajet_plugins_std.judgers.fields import JudgeInputError
from ajet_plugins_std.judgers.rubric import RubricConfig, RubricJudger

# A sibling file: the folder of a config-named judger file is on the import path.
from patient import TOPIC_CRITERIA, TOPICS
from pydantic import Field

from ajet import JudgeResult, Task, WorkflowOutput

# Criteria are direct questions: SmolLM2-135M mostly echoes a statement back ("The patient says
# ...") without a verdict, but mostly answers a question with one (measured; see the README).
QUESTION_CRITERION = (
    "Is the doctor's last message one clear question about something the patient had not told yet?"
)
SYSTEM_PROMPT = "You answer questions about a conversation with Yes or No."
PROMPT = (
    "A patient said: {question}\n\n{answer}\n\nQuestion about this conversation: {criterion} "
    "Answer Yes or No."
)


class ConsultationJudgeOptions(RubricConfig):
    answer_key: str = "transcript"
    system_prompt: str = SYSTEM_PROMPT
    prompt: str = PROMPT
    # Weight of the exact coverage (share of the case's facts the patient revealed), 0..1.
    coverage_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    # Weight of the last-question criterion; each fact criterion weighs 1.
    question_weight: float = Field(default=1.0, ge=0.0)


class ConsultationJudger(RubricJudger):
    options_model = ConsultationJudgeOptions
    options: ConsultationJudgeOptions

    def criteria(self, task: Task) -> list[tuple[str | None, str, float]]:
        """(topic or None for the question criterion, criterion text, weight) for a case."""
        facts = task.metadata.get("facts")
        if not isinstance(facts, dict) or not facts:
            raise JudgeInputError(
                f"learn2ask judger: task {task.task_id!r} has no metadata['facts'] (a case "
                "record as make_data.py writes it)"
            )
        unknown = sorted(set(facts) - set(TOPICS))
        if unknown:
            raise JudgeInputError(
                f"learn2ask judger: task {task.task_id!r} has unknown topic(s) {unknown}; known "
                f"topics: {sorted(TOPICS)}"
            )
        found: list[tuple[str | None, str, float]] = [
            (topic, f"Did the patient tell the doctor {TOPIC_CRITERIA[topic]}?", 1.0)
            for topic in facts
        ]
        if self.options.question_weight > 0:
            found.append((None, QUESTION_CRITERION, self.options.question_weight))
        return found

    async def _met(self, task: Task, output: WorkflowOutput, criterion: str) -> bool:
        # One criterion per rubric call, so each verdict is known on its own.
        one = Task(
            task_id=task.task_id,
            main_query=task.main_query,
            metadata={self.options.rubric_key: [criterion]},
        )
        return (await super().ajudge(one, output)).reward == 1.0

    async def ajudge(self, task: Task, output: WorkflowOutput) -> JudgeResult:
        c = self.options
        criteria = self.criteria(task)
        revealed = output.metadata.get("revealed")
        if not isinstance(revealed, list):
            raise JudgeInputError(
                "learn2ask judger: the workflow's output has no metadata['revealed'] (the topics "
                "the simulated patient revealed); use learn2ask_agent.py:Learn2AskAgent"
            )
        limit = asyncio.Semaphore(c.concurrency)

        async def met(text: str) -> bool:
            async with limit:
                return await self._met(task, output, text)

        verdicts = await asyncio.gather(*(met(text) for _, text, _ in criteria))
        weights = sum(weight for _, _, weight in criteria)
        judge_score = sum(w for (_, _, w), met in zip(criteria, verdicts) if met) / weights
        facts = [(topic, met) for (topic, _, _), met in zip(criteria, verdicts) if topic]
        coverage = sum(topic in revealed for topic, _ in facts) / len(facts)
        reward = c.coverage_weight * coverage + (1 - c.coverage_weight) * judge_score
        metrics = {
            "coverage": coverage,
            "judge_score": judge_score,
            "judge_facts_met": sum(met for _, met in facts) / len(facts),
            "judge_agreement": sum((topic in revealed) == met for topic, met in facts) / len(facts),
        }
        if c.question_weight > 0:
            metrics["judge_question_ok"] = float(verdicts[-1])
        # Success is exact: every fact of the case found out.
        return JudgeResult(reward, coverage == 1.0, metrics)
