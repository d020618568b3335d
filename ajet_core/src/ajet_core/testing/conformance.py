"""Conformance tests a plugin package subclasses (the pattern of langchain-tests).

Example::

    class TestMyJudger(JudgerConformance):
        registered_name = "my_judger"          # checked against the installed entry points

        @pytest.fixture
        def judger(self):
            return MyJudger()

        @pytest.fixture
        def passing_case(self):
            return Task(main_query="2+2?", metadata={"answer": "4"}), WorkflowOutput(
                metadata={"final_answer": "4"})

        @pytest.fixture
        def failing_case(self):
            ...

Every ``test_*`` method below then runs against your plugin.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ValidationError

from ajet_core.judging import Judger, JudgeResult
from ajet_core.readers import TaskReader
from ajet_core.schema import Task
from ajet_core.workflow import WorkflowOutput


def _assert_forbids_unknown_keys(config_model: type[BaseModel] | None, what: str) -> None:
    if config_model is None:
        return
    with pytest.raises(ValidationError) as info:
        config_model.model_validate({"surely_not_an_option_42": 1})
    assert any(e["type"] == "extra_forbidden" for e in info.value.errors()), (
        f"{what}.config_model must reject unknown keys (model_config extra='forbid') so a "
        "misspelt option is an error, not silently ignored"
    )


def _assert_registered(kind: str, name: str | None, implementation: type) -> None:
    """The plugin is discoverable through the installed entry points under ``name``."""
    if name is None:
        pytest.skip("registered_name not set: entry-point discovery not checked")
    from ajet_core.plugins.manager import PluginManager

    manager = PluginManager()
    manager.load_entry_points(disabled=set())
    loaded = manager.load_object(kind, name)
    assert loaded is implementation, (
        f"{kind} {name!r} resolves to {loaded!r}, expected {implementation!r}"
    )


class JudgerConformance:
    """Subclass and provide ``judger``, ``passing_case`` and ``failing_case`` fixtures."""

    registered_name: ClassVar[str | None] = None

    @pytest.fixture
    def judger(self) -> Judger:
        raise NotImplementedError("provide a `judger` fixture returning your judger instance")

    @pytest.fixture
    def passing_case(self) -> tuple[Task, WorkflowOutput]:
        raise NotImplementedError("provide a (task, output) the judger must mark successful")

    @pytest.fixture
    def failing_case(self) -> tuple[Task, WorkflowOutput]:
        raise NotImplementedError("provide a (task, output) the judger must mark unsuccessful")

    @staticmethod
    def _judge(judger: Judger, case: tuple[Task, WorkflowOutput]) -> JudgeResult:
        return asyncio.run(judger.ajudge(*case))

    def test_is_a_judger(self, judger: Judger) -> None:
        assert isinstance(judger, Judger)

    def test_result_types(self, judger: Judger, passing_case: tuple[Task, WorkflowOutput]) -> None:
        result = self._judge(judger, passing_case)
        assert isinstance(result, JudgeResult)
        assert isinstance(result.reward, (int, float)) and math.isfinite(result.reward)
        assert isinstance(result.is_success, bool)
        assert isinstance(result.metrics, dict)

    def test_passing_case_succeeds(
        self, judger: Judger, passing_case: tuple[Task, WorkflowOutput]
    ) -> None:
        assert self._judge(judger, passing_case).is_success is True

    def test_failing_case_fails_with_lower_reward(
        self,
        judger: Judger,
        passing_case: tuple[Task, WorkflowOutput],
        failing_case: tuple[Task, WorkflowOutput],
    ) -> None:
        failing = self._judge(judger, failing_case)
        assert failing.is_success is False
        assert failing.reward < self._judge(judger, passing_case).reward

    def test_judging_is_repeatable(
        self, judger: Judger, passing_case: tuple[Task, WorkflowOutput]
    ) -> None:
        first, second = self._judge(judger, passing_case), self._judge(judger, passing_case)
        assert (first.reward, first.is_success) == (second.reward, second.is_success)

    def test_config_model_forbids_unknown_keys(self, judger: Judger) -> None:
        _assert_forbids_unknown_keys(getattr(judger, "config_model", None), type(judger).__name__)

    def test_registered_under_its_name(self, judger: Judger) -> None:
        _assert_registered("judger", self.registered_name, type(judger))


class TaskReaderConformance:
    """Subclass and provide a ``reader`` fixture (set ``split`` if ``train`` has no tasks)."""

    registered_name: ClassVar[str | None] = None
    split: ClassVar[str] = "train"

    @pytest.fixture
    def reader(self) -> Iterator[TaskReader]:
        raise NotImplementedError("provide a `reader` fixture returning your reader instance")

    def _tasks(self, reader: TaskReader) -> list[Task]:
        return list(reader.iter_tasks(self.split))

    def test_is_a_task_reader(self, reader: TaskReader) -> None:
        assert isinstance(reader, TaskReader)

    def test_yields_tasks(self, reader: TaskReader) -> None:
        tasks = self._tasks(reader)
        assert tasks, f"split {self.split!r} yielded no tasks"
        assert all(isinstance(t, Task) for t in tasks)

    def test_streams_instead_of_building_a_list(self, reader: TaskReader) -> None:
        produced: Any = reader.iter_tasks(self.split)
        assert inspect.isgenerator(produced) or iter(produced) is produced, (
            "iter_tasks must return an iterator so data sets are never held whole in memory"
        )

    def test_order_is_deterministic(self, reader: TaskReader) -> None:
        first = [t.model_dump() for t in self._tasks(reader)]
        second = [t.model_dump() for t in self._tasks(reader)]
        assert first == second

    def test_task_ids_are_unique_and_non_empty(self, reader: TaskReader) -> None:
        ids = [t.task_id for t in self._tasks(reader)]
        assert all(ids), "every task needs a task_id (derive one from content when missing)"
        assert len(ids) == len(set(ids)), "task ids must be unique: each is its own GRPO group"

    def test_config_model_forbids_unknown_keys(self, reader: TaskReader) -> None:
        _assert_forbids_unknown_keys(getattr(reader, "config_model", None), type(reader).__name__)

    def test_registered_under_its_name(self, reader: TaskReader) -> None:
        _assert_registered("task_reader", self.registered_name, type(reader))


class BackboneConformance:
    """Subclass and provide a ``backbone`` fixture; checks the engine contract."""

    registered_name: ClassVar[str | None] = None

    @pytest.fixture
    def backbone(self) -> Any:
        raise NotImplementedError("provide a `backbone` fixture returning your backbone instance")

    def test_config_model_forbids_unknown_keys(self, backbone: Any) -> None:
        _assert_forbids_unknown_keys(
            getattr(backbone, "config_model", None), type(backbone).__name__
        )

    def test_engine_generates_tokens_with_logprobs(self, backbone: Any) -> None:
        from ajet_core.engine import Engine, SamplingParams

        engine = backbone.build_engine()
        assert isinstance(engine, Engine)
        prompt = engine.tokenizer.apply_chat_template(
            [{"role": "user", "content": "Say hi"}], add_generation_prompt=True, tokenize=True
        )
        if not isinstance(prompt, list):  # tokenizers that return a BatchEncoding
            prompt = list(prompt["input_ids"])
        generation = asyncio.run(
            engine.generate(prompt, SamplingParams(max_tokens=8, temperature=1.0, seed=1))
        )
        assert 0 < len(generation.token_ids) <= 8
        assert len(generation.logprobs) == len(generation.token_ids)
        assert all(lp <= 0.0 for lp in generation.logprobs)
        assert generation.finish_reason in ("stop", "length")

    def test_registered_under_its_name(self, backbone: Any) -> None:
        _assert_registered("backbone", self.registered_name, type(backbone))
