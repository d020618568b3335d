"""``llm_judge``: an LLM grades the answer against a rubric; the score becomes the reward.

    judger:
      type: llm_judge
      base_url: http://127.0.0.1:8000/v1    # any OpenAI-compatible endpoint
      model: judge-model
      api_key_env: JUDGE_API_KEY
      rubric: The answer must name the capital city.
      success_threshold: 0.7                 # of the normalised score
      cache_dir: .cache/llm_judge            # optional: answers survive restarts

The reply must hold the score as ``Score: N/10`` or JSON ``{"score": N}``. A reply without one is
asked again (``parse_retries``); an endpoint that stays down or never gives a score fails the
episode with an error that says why — it is never scored 0 silently.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import OrderedDict

from pydantic import Field, model_validator

from ajet_core.judging import Judger, JudgerConfig, JudgeResult
from ajet_core.schema import Task
from ajet_core.workflow import WorkflowOutput
from ajet_plugins_std.judgers.fields import answer_text
from ajet_plugins_std.llm import DiskCache, EndpointOptions, LlmError, cache_key, describe_failure

DEFAULT_SYSTEM_PROMPT = (
    "You are a strict judge. Rate the answer from {min_score} to {max_score}.\n"
    "Rubric: {rubric}\n"
    "End your reply with a line 'Score: N/{max_score}'."
)
DEFAULT_USER_PROMPT = (
    "Question: {question}\nReference: {reference}\nAnswer: {answer}\nRate the answer."
)

_SCORE_LINE = re.compile(
    r"score\s*[:=]\s*(-?\d+(?:\.\d+)?)(?:\s*/\s*(\d+(?:\.\d+)?))?", re.IGNORECASE
)
_JSON_OBJECT = re.compile(r"\{[^{}]*\}")


class LlmJudgeConfig(JudgerConfig, EndpointOptions):
    rubric: str = "The answer is correct, complete and agrees with the reference when one is given."
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    user_prompt: str = DEFAULT_USER_PROMPT
    answer_key: str = "final_answer"
    # task.metadata field with a reference answer; '(none)' is shown when a task has none.
    reference_key: str | None = "answer"
    min_score: float = 0.0
    max_score: float = 10.0
    # Normalised score (0..1) at or above which the episode counts as a success.
    success_threshold: float = Field(default=0.7, ge=0.0, le=1.0)
    temperature: float = Field(default=0.0, ge=0.0)
    max_tokens: int = Field(default=128, gt=0)
    # Extra requests when a reply holds no score.
    parse_retries: int = Field(default=1, ge=0)
    timeout: float = Field(default=30.0, gt=0)
    # Identical prompts are judged once: in memory, and on disk too when cache_dir is set.
    cache: bool = True
    cache_dir: str | None = None

    @model_validator(mode="after")
    def _check(self) -> LlmJudgeConfig:
        if self.max_score <= self.min_score:
            raise ValueError(
                f"max_score ({self.max_score}) must be above min_score ({self.min_score})"
            )
        for name in ("system_prompt", "user_prompt"):
            template = getattr(self, name)
            try:
                template.format(
                    question="", answer="", reference="", rubric="", min_score=0, max_score=0
                )
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(
                    f"{name} uses an unknown placeholder or stray brace ({exc}); available: "
                    "{question}, {answer}, {reference}, {rubric}, {min_score}, {max_score}; write "
                    "literal braces as {{ }}"
                ) from None
        return self


def parse_score(text: str) -> float | None:
    """The score in a judge's reply: a JSON object's "score", else the last 'Score: N[/M]'."""
    for candidate in reversed(_JSON_OBJECT.findall(text)):
        try:
            value = json.loads(candidate).get("score")
        except (ValueError, AttributeError):
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    matches = _SCORE_LINE.findall(text)
    return float(matches[-1][0]) if matches else None


class LlmJudger(Judger):
    options_model = LlmJudgeConfig
    options: LlmJudgeConfig

    def __init__(self, config: LlmJudgeConfig | None = None) -> None:
        if config is None:
            raise ValueError("the llm_judge judger needs judger.base_url and judger.model")
        super().__init__(config)
        self._memory: OrderedDict[str, float] = OrderedDict()
        self._disk = DiskCache(config.cache_dir) if config.cache and config.cache_dir else None

    def messages(self, task: Task, output: WorkflowOutput) -> list[dict[str, str]]:
        c = self.options
        reference = task.metadata.get(c.reference_key) if c.reference_key else None
        fields = {
            "question": task.main_query
            or json.dumps(task.metadata, ensure_ascii=False, default=str)[:2000],
            "answer": answer_text(output, c.answer_key, "llm_judge"),
            "reference": "(none)" if reference is None else str(reference),
            "rubric": c.rubric,
            "min_score": f"{c.min_score:g}",
            "max_score": f"{c.max_score:g}",
        }
        return [
            {"role": "system", "content": c.system_prompt.format(**fields)},
            {"role": "user", "content": c.user_prompt.format(**fields)},
        ]

    def _result(self, score: float, cached: bool, attempts: int) -> JudgeResult:
        c = self.options
        clamped = min(max(score, c.min_score), c.max_score)
        reward = (clamped - c.min_score) / (c.max_score - c.min_score)
        return JudgeResult(
            reward,
            reward >= c.success_threshold,
            {"judge_score": score, "judge_cached": int(cached), "judge_requests": attempts},
        )

    async def ajudge(self, task: Task, output: WorkflowOutput) -> JudgeResult:
        import openai

        c = self.options
        messages = self.messages(task, output)
        key = cache_key(
            {
                "model": c.model,
                "messages": messages,
                "temperature": c.temperature,
                "max_tokens": c.max_tokens,
            }
        )
        if c.cache:
            cached = self._memory.get(key)
            if cached is None and self._disk is not None:
                entry = self._disk.get(key)
                cached = entry.get("score") if isinstance(entry, dict) else None
            if cached is not None:
                return self._result(float(cached), True, 0)
        # A client per judgement: its connection pool belongs to the event loop of this call.
        async with openai.AsyncOpenAI(
            base_url=c.base_url, api_key=c.key(), timeout=c.timeout, max_retries=c.max_retries
        ) as client:
            replies = []
            for _attempt in range(1, c.parse_retries + 2):
                try:
                    response = await client.chat.completions.create(
                        model=c.model,
                        messages=messages,
                        temperature=c.temperature,
                        max_tokens=c.max_tokens,
                    )
                except openai.OpenAIError as exc:
                    raise LlmError(f"llm_judge: {describe_failure(c, exc)}") from None
                text = (response.choices[0].message.content or "") if response.choices else ""
                replies.append(text)
                score = parse_score(text)
                if score is not None:
                    break
            else:
                raise LlmError(
                    f"llm_judge: no score in {len(replies)} repl(ies) of {c.model!r} (last: "
                    f"{replies[-1][:300]!r}); the prompt must make the model answer 'Score: N/10' "
                    'or JSON {"score": N}'
                )
        if c.cache:
            self._memory[key] = score
            while len(self._memory) > 100_000:
                self._memory.popitem(last=False)
            if self._disk is not None:
                self._disk.put(key, {"score": score, "reply": replies[-1]})
        return self._result(score, False, len(replies))

    def judge(self, task: Task, output: WorkflowOutput) -> JudgeResult:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.ajudge(task, output))
        raise RuntimeError(
            "llm_judge.judge() was called inside an event loop; await ajudge() instead"
        )
