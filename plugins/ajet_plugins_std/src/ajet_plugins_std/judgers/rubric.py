"""``rubric``: an LLM checks the answer against each criterion of the task's rubric; the reward
is the weighted share of criteria met.

    judger:
      type: rubric
      base_url: http://127.0.0.1:8000/v1   # the judge model: a fixed OpenAI-compatible endpoint
      model: judge
      rubric_key: rubric                   # task.metadata field holding the task's rubric
      rubric:                              # the rubric for tasks without one (optional)
        - {criterion: "Names the capital of France", weight: 2}
        - {criterion: "Answers in one sentence"}
      success_threshold: 0.5

A rubric is a list of criteria, each ``{"criterion": text, "weight": number}`` (weight 1 when left
out) or a plain string. Every criterion is one request that asks for Yes or No; the reply's first
verdict word decides (yes / meets / met, or no / not). A reply without one is asked again
(``parse_retries``), and a criterion still without a verdict fails the episode with the judge's
reply in the error — it never counts as a silent 0.
The verdicts are metrics (``rubric_met``, ``rubric_criteria``) next to the reward.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, Field, field_validator

from ajet_core.judging import Judger, JudgerConfig, JudgeResult
from ajet_core.schema import Task
from ajet_core.workflow import WorkflowOutput
from ajet_plugins_std.judgers.fields import JudgeInputError, answer_text
from ajet_plugins_std.llm import EndpointOptions, LlmError, describe_failure
from ajet_plugins_std.verdicts import parse_verdict

DEFAULT_SYSTEM_PROMPT = "You check answers against one criterion. Reply YES or NO."
DEFAULT_PROMPT = (
    "Question: {question}\nAnswer: {answer}\nCriterion: {criterion}\n"
    "Is the criterion met? Answer Yes or No."
)


class Criterion(BaseModel):
    criterion: str = Field(min_length=1)
    weight: float = Field(default=1.0, gt=0)


def parse_rubric(value: Any, where: str) -> list[Criterion]:
    """A rubric from config or task data: a non-empty list of criteria (objects or strings)."""
    if not isinstance(value, list) or not value:
        raise JudgeInputError(
            f"rubric judger: {where} must be a non-empty list of criteria, got {value!r:.120}"
        )
    criteria = []
    for index, item in enumerate(value):
        try:
            criteria.append(
                Criterion(criterion=item) if isinstance(item, str) else Criterion(**item)
            )
        except (TypeError, ValueError) as exc:
            raise JudgeInputError(
                f"rubric judger: {where}[{index}] = {item!r:.120} is not a criterion "
                f'({exc}); write {{"criterion": "...", "weight": 1}} or a string'
            ) from None
    return criteria


class RubricConfig(JudgerConfig, EndpointOptions):
    rubric_key: str = "rubric"
    rubric: list[Any] | None = None
    answer_key: str = "final_answer"
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    # Placeholders {question}, {answer}, {criterion}.
    prompt: str = DEFAULT_PROMPT
    temperature: float = Field(default=0.0, ge=0)
    max_tokens: int = Field(default=16, gt=0)
    parse_retries: int = Field(default=1, ge=0)
    success_threshold: float = Field(default=0.5, ge=0, le=1)
    # Criteria judged at once.
    concurrency: int = Field(default=4, ge=1, le=64)

    @field_validator("rubric")
    @classmethod
    def _rubric_ok(cls, value: list[Any] | None) -> list[Any] | None:
        if value is not None:
            try:
                parse_rubric(value, "judger.rubric")
            except JudgeInputError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("prompt")
    @classmethod
    def _placeholders(cls, prompt: str) -> str:
        try:
            prompt.format(question="", answer="", criterion="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"prompt uses an unknown placeholder or a stray brace ({exc}); available: "
                "{question}, {answer}, {criterion}; write literal braces as {{ }}"
            ) from None
        return prompt


class RubricJudger(Judger):
    options_model = RubricConfig
    options: RubricConfig

    def __init__(self, options: RubricConfig | None = None) -> None:
        if options is None:
            raise JudgeInputError("the rubric judger needs judger.base_url and judger.model")
        super().__init__(options)

    def rubric_of(self, task: Task) -> list[Criterion]:
        c = self.options
        if c.rubric_key in task.metadata:
            return parse_rubric(task.metadata[c.rubric_key], f"task {task.task_id!r} rubric")
        if c.rubric is not None:
            return parse_rubric(c.rubric, "judger.rubric")
        raise JudgeInputError(
            f"rubric judger: task {task.task_id!r} has no metadata[{c.rubric_key!r}] and no "
            "judger.rubric is set; add a rubric to the data or the config"
        )

    async def _verdict(self, client: Any, task: Task, answer: str, item: Criterion) -> bool:
        import openai

        c = self.options
        messages = [
            {"role": "system", "content": c.system_prompt},
            {
                "role": "user",
                "content": c.prompt.format(
                    question=task.main_query, answer=answer, criterion=item.criterion
                ),
            },
        ]
        replies = []
        for _ in range(c.parse_retries + 1):
            try:
                response = await client.chat.completions.create(
                    model=c.model,
                    messages=messages,
                    temperature=c.temperature,
                    max_tokens=c.max_tokens,
                )
            except openai.OpenAIError as exc:
                raise LlmError(f"rubric judger: {describe_failure(c, exc)}") from None
            text = (response.choices[0].message.content or "") if response.choices else ""
            replies.append(text)
            verdict = parse_verdict(text)
            if verdict is not None:
                return verdict
        raise LlmError(
            f"rubric judger: {c.model!r} gave no YES/NO verdict for criterion "
            f"{item.criterion!r} in {len(replies)} repl(ies) (last: {replies[-1][:160]!r}); use a "
            "model that follows the prompt, or adjust judger.prompt"
        )

    async def ajudge(self, task: Task, output: WorkflowOutput) -> JudgeResult:
        import openai

        c = self.options
        criteria = self.rubric_of(task)
        answer = answer_text(output, c.answer_key, "rubric")
        limit = asyncio.Semaphore(c.concurrency)

        async with openai.AsyncOpenAI(
            base_url=c.base_url, api_key=c.key(), timeout=c.timeout, max_retries=c.max_retries
        ) as client:

            async def one(item: Criterion) -> bool:
                async with limit:
                    return await self._verdict(client, task, answer, item)

            verdicts = await asyncio.gather(*(one(item) for item in criteria))
        total = sum(item.weight for item in criteria)
        reward = sum(item.weight for item, met in zip(criteria, verdicts) if met) / total
        metrics = {"rubric_met": float(sum(verdicts)), "rubric_criteria": float(len(criteria))}
        return JudgeResult(reward, reward >= c.success_threshold, metrics)

    def judge(self, task: Task, output: WorkflowOutput) -> JudgeResult:
        return asyncio.run(self.ajudge(task, output))
