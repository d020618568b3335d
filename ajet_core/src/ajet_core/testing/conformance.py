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

Every ``test_*`` method below then runs against your plugin. Beyond the plugin's own behaviour
the kit checks what the framework relies on: it builds the plugin the way ``ajet train`` does
(the options of your fixture instance go through a config section, the plugin's
``options_model`` and the framework's constructor call), a judger refuses an episode without an
answer or a reference instead of scoring it 0, ``options_model`` forbids unknown keys, and the
entry-point module imports none of torch/transformers/verl/trinity/vllm/openai.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from ajet_core.judging import Judger, JudgeResult
from ajet_core.readers import TaskReader
from ajet_core.schema import Task
from ajet_core.workflow import WorkflowOutput


def _assert_forbids_unknown_keys(plugin: Any) -> None:
    from ajet_core.plugin_options import options_model_of

    options_model = options_model_of(type(plugin))
    if options_model is None:
        return
    message = (
        f"{type(plugin).__name__}.options_model ({options_model.__name__}) must reject unknown "
        "keys (model_config = ConfigDict(extra='forbid'), or subclass JudgerConfig/"
        "TaskReaderConfig/BackboneConfig) so a misspelt option is an error, not silently ignored"
    )
    try:
        options_model.model_validate({"surely_not_an_option_42": 1})
    except ValidationError as exc:
        if any(e["type"] == "extra_forbidden" for e in exc.errors()):
            return
    pytest.fail(message, pytrace=False)


def _installed_manager() -> Any:
    from ajet_core.plugins.manager import PluginManager

    manager = PluginManager()
    manager.load_entry_points(disabled=set())
    return manager


def _assert_registered(kind: str, name: str | None, implementation: type) -> None:
    """The plugin is discoverable through the installed entry points under ``name``."""
    if name is None:
        pytest.skip("registered_name not set: entry-point discovery not checked")
    loaded = _installed_manager().load_object(kind, name)
    assert loaded is implementation, (
        f"{kind} {name!r} resolves to {loaded!r}, expected {implementation!r}"
    )


# Modules named when a slow entry point pulls in none of the usual culprits.
MODULES_SHOWN = 8


def _assert_entry_point_is_light(kind: str, name: str | None) -> None:
    if name is None:
        pytest.skip("registered_name not set: the entry-point module is not known")
    from ajet_core.plugins.manager import SLOW_IMPORT_SECONDS
    from ajet_core.testing.entry_points import HEAVY_MODULES, entry_point_costs

    entry = _installed_manager().resolve(kind, name)
    distribution = entry.source.distribution
    if distribution is None:
        pytest.skip(f"{kind} {name!r} does not come from an installed distribution")
    problems = []
    for entry_point, cost in entry_point_costs(distribution).items():
        # Measured, so any heavy library counts; the usual culprits are named when present.
        if cost.cpu_seconds > SLOW_IMPORT_SECONDS or cost.heavy():
            pulled = cost.heavy() or cost.modules[:MODULES_SHOWN]
            problems.append(
                f"{entry_point} takes {cost.cpu_seconds:.2f} s of CPU to import (at most "
                f"{SLOW_IMPORT_SECONDS} s) and pulls in {', '.join(pulled)}"
            )
    if problems:
        pytest.fail(
            f"{distribution}'s entry-point modules must stay light (every `ajet` command imports "
            f"them; none of {', '.join(HEAVY_MODULES)} or anything as slow): "
            f"{'; '.join(problems)}. Register targets as 'module:Object' paths and import heavy "
            "libraries inside them",
            pytrace=False,
        )


# The hook that registers each section's kind of plugin.
_REGISTRATION_HOOKS = {
    "judger": "ajet_register_judgers",
    "task_reader": "ajet_register_task_readers",
    "backbone": "ajet_register_backbones",
}
_UNDER_TEST = "plugin_under_test"


def build_as_the_framework_does(section: str, plugin: Any) -> Any:
    """Build a new plugin of ``plugin``'s class the way a run does: the fixture instance's
    options become the config section's keys, are validated by the class's ``options_model`` and
    handed to the constructor the framework calls. A class the framework cannot build fails."""
    from types import SimpleNamespace

    from ajet_core.config.loader import validate_config
    from ajet_core.config.plugin_sections import PLUGIN_SECTIONS, resolve_section
    from ajet_core.hookspecs import hookimpl
    from ajet_core.plugin_options import options_model_of
    from ajet_core.plugins.manager import PluginManager
    from ajet_core.training.components import instantiate

    cls = type(plugin)
    options = getattr(plugin, "options", None)
    raw = options.model_dump(mode="json", exclude_defaults=True) if options is not None else {}
    manager = PluginManager()
    register = hookimpl(lambda registry: registry.add(_UNDER_TEST, cls))
    manager.register(SimpleNamespace(**{_REGISTRATION_HOOKS[section]: register}), "kit")
    selector = PLUGIN_SECTIONS[section][1]
    config = validate_config({section: {selector: _UNDER_TEST, **raw}})
    resolved = resolve_section(config, section, manager)
    assert resolved is not None
    try:
        if section == "backbone":
            return resolved.implementation(config, resolved.options)
        return instantiate(resolved)
    except TypeError as exc:
        model = options_model_of(cls)
        call = f"{cls.__name__}({model.__name__}(...))" if model else f"{cls.__name__}()"
        pytest.fail(
            f"the framework builds this plugin as {call} from the config section, which raised "
            f"TypeError: {exc}. Keep the base class's constructor signature "
            "(__init__(self, options=None) calling super().__init__(options))",
            pytrace=False,
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

    @pytest.fixture
    def missing_answer_case(
        self, passing_case: tuple[Task, WorkflowOutput]
    ) -> tuple[Task, WorkflowOutput] | None:
        """The passing case without the workflow's answer (``WorkflowOutput.metadata`` empty).

        Return None from your override when the judger reads no answer from the output.
        """
        task, output = passing_case
        if not output.metadata:
            return None  # nothing to take away: the judger does not read an answer from it
        return task, WorkflowOutput(metadata={})

    @pytest.fixture
    def missing_reference_case(
        self, passing_case: tuple[Task, WorkflowOutput]
    ) -> tuple[Task, WorkflowOutput] | None:
        """The passing case without the task's reference (``Task.metadata`` empty).

        Return None from your override when the judger needs no reference.
        """
        task, output = passing_case
        if not task.metadata:
            return None
        return task.model_copy(update={"metadata": {}}), output

    @staticmethod
    def _judge(judger: Judger, case: tuple[Task, WorkflowOutput]) -> JudgeResult:
        return asyncio.run(judger.ajudge(*case))

    def _assert_refused(self, judger: Judger, case: Any, what: str) -> None:
        if case is None:
            pytest.skip(f"no case without {what}: the judger does not need one")
        try:
            result = self._judge(judger, case)
        except Exception:  # noqa: BLE001 - any error fails the episode, which is the rule
            return
        pytest.fail(
            f"{type(judger).__name__} scored an episode without {what} as reward="
            f"{result.reward}, is_success={result.is_success}: a missing answer or reference "
            "must raise (the episode then fails with that message), never be a silent 0",
            pytrace=False,
        )

    def test_the_framework_can_build_it(
        self, judger: Judger, passing_case: tuple[Task, WorkflowOutput]
    ) -> None:
        built = build_as_the_framework_does("judger", judger)
        assert type(built) is type(judger)
        expected, got = self._judge(judger, passing_case), self._judge(built, passing_case)
        assert (got.reward, got.is_success) == (expected.reward, expected.is_success), (
            "built from its config section, the judger scores differently than the fixture's "
            "instance: an option does not survive the config round trip"
        )

    def test_a_missing_answer_is_an_error(
        self, judger: Judger, missing_answer_case: tuple[Task, WorkflowOutput] | None
    ) -> None:
        self._assert_refused(judger, missing_answer_case, "an answer")

    def test_a_missing_reference_is_an_error(
        self, judger: Judger, missing_reference_case: tuple[Task, WorkflowOutput] | None
    ) -> None:
        self._assert_refused(judger, missing_reference_case, "a reference")

    def test_entry_point_imports_nothing_heavy(self) -> None:
        _assert_entry_point_is_light("judger", self.registered_name)

    def test_is_a_judger(self, judger: Judger) -> None:
        assert isinstance(judger, Judger)

    def test_result_types(self, judger: Judger, passing_case: tuple[Task, WorkflowOutput]) -> None:
        from ajet_core.rollout.runner import EpisodeFailure, checked_reward, checked_success

        result = self._judge(judger, passing_case)
        assert isinstance(result, JudgeResult)
        # The checks a run applies, so the kit passes exactly what training accepts (a numpy
        # float reward or bool success included) and fails what it refuses.
        try:
            checked_reward(result.reward, "reward")
            checked_success(result.is_success, "is_success")
        except EpisodeFailure as exc:
            raise AssertionError(f"a run would fail this episode: {exc}") from None
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

    def test_options_model_forbids_unknown_keys(self, judger: Judger) -> None:
        _assert_forbids_unknown_keys(judger)

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

    def test_options_model_forbids_unknown_keys(self, reader: TaskReader) -> None:
        _assert_forbids_unknown_keys(reader)

    def test_registered_under_its_name(self, reader: TaskReader) -> None:
        _assert_registered("task_reader", self.registered_name, type(reader))

    def test_the_framework_can_build_it(self, reader: TaskReader) -> None:
        built = build_as_the_framework_does("task_reader", reader)
        assert type(built) is type(reader)
        try:
            assert [t.model_dump() for t in self._tasks(built)] == [
                t.model_dump() for t in self._tasks(reader)
            ], "built from its config section, the reader yields other tasks than the fixture's"
        finally:
            built.close()

    def test_entry_point_imports_nothing_heavy(self) -> None:
        _assert_entry_point_is_light("task_reader", self.registered_name)


class BackboneConformance:
    """Subclass and provide a ``backbone`` fixture; checks the engine contract."""

    registered_name: ClassVar[str | None] = None

    @pytest.fixture
    def backbone(self) -> Any:
        raise NotImplementedError("provide a `backbone` fixture returning your backbone instance")

    def test_options_model_forbids_unknown_keys(self, backbone: Any) -> None:
        _assert_forbids_unknown_keys(backbone)

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

    def test_the_framework_can_build_it(self, backbone: Any) -> None:
        assert type(build_as_the_framework_does("backbone", backbone)) is type(backbone)

    def test_entry_point_imports_nothing_heavy(self) -> None:
        _assert_entry_point_is_light("backbone", self.registered_name)
