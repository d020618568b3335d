"""The testing kit catches what would otherwise fail only in a user's run: a plugin package built
as a real installed distribution runs the kit's conformance class in its own pytest process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from ajet_core.plugins.manager import SLOW_IMPORT_SECONDS
from ajet_core.testing.entry_points import entry_point_costs, heavy_imports

from .helpers import make_distribution

SLOPPY_PLUGIN = """
import openai  # noqa: F401 - the mistake under test: a heavy import in the entry-point module
from ajet_core.hookspecs import hookimpl

@hookimpl
def ajet_register_judgers(registry):
    registry.add("sloppy", "ajet_sloppy_judger:SloppyJudger")
"""

SLOPPY_JUDGER = """
from pydantic import BaseModel

from ajet_core.judging import Judger, JudgeResult


class SloppyConfig(BaseModel):  # not a JudgerConfig: unknown keys are ignored silently
    answer_key: str = "final_answer"


class SloppyJudger(Judger):
    options_model = SloppyConfig

    def __init__(self, *, threshold=0.5):  # not the framework's (config) signature
        super().__init__()
        self.threshold = threshold

    def judge(self, task, output):
        answer = output.metadata.get(self.options.answer_key, "")  # a missing answer scores 0
        ok = str(task.metadata.get("answer")) == str(answer)
        return JudgeResult(reward=float(ok), is_success=ok)
"""

CONFORMANCE_TEST = """
import pytest

from ajet_core.schema import Task
from ajet_core.testing import JudgerConformance
from ajet_core.workflow import WorkflowOutput
from ajet_sloppy_judger import SloppyJudger


def case(answer):
    return Task(task_id="1", metadata={"answer": "4"}), WorkflowOutput(
        metadata={"final_answer": answer}
    )


class TestSloppy(JudgerConformance):
    registered_name = "sloppy"

    @pytest.fixture
    def judger(self):
        return SloppyJudger(threshold=0.5)

    @pytest.fixture
    def passing_case(self):
        return case("4")

    @pytest.fixture
    def failing_case(self):
        return case("5")
"""


def _run_conformance(site: Path, tmp_path: Path) -> dict[str, str | None]:
    """Test name -> failure message (None: passed) from a pytest run of the plugin's tests."""
    tests = tmp_path / "plugin_tests"
    tests.mkdir()
    (tests / "test_sloppy.py").write_text(textwrap.dedent(CONFORMANCE_TEST))
    report = tmp_path / "report.xml"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={report}",
            str(tests),
        ],
        cwd=tests,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    outcomes: dict[str, str | None] = {}
    for case in ElementTree.parse(report).iter("testcase"):
        failure = case.find("failure")
        outcomes[case.get("name", "")] = None if failure is None else failure.get("message", "")
    return outcomes


def test_the_kit_fails_a_judger_the_framework_could_not_run(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    make_distribution(site, "ajet-sloppy-judger", "ajet_sloppy_plugin", SLOPPY_PLUGIN)
    (site / "ajet_sloppy_judger.py").write_text(textwrap.dedent(SLOPPY_JUDGER))
    outcomes = _run_conformance(site, tmp_path)
    # What the judger gets right still passes ...
    assert outcomes["test_passing_case_succeeds"] is None
    assert outcomes["test_failing_case_fails_with_lower_reward"] is None
    assert outcomes["test_registered_under_its_name"] is None
    # ... and each mistake fails its own test with the kit's message.
    assert "the framework builds this plugin as SloppyJudger(SloppyConfig(...))" in (
        outcomes["test_the_framework_can_build_it"] or ""
    )
    assert "never be a silent 0" in (outcomes["test_a_missing_answer_is_an_error"] or "")
    assert "scored an episode without a reference" in (
        outcomes["test_a_missing_reference_is_an_error"] or ""
    )
    assert "SloppyJudger.options_model (SloppyConfig) must reject unknown keys" in (
        outcomes["test_options_model_forbids_unknown_keys"] or ""
    )
    light = outcomes["test_entry_point_imports_nothing_heavy"] or ""
    assert "ajet_sloppy_plugin takes" in light and "pulls in openai" in light


def test_heavy_imports_reports_only_what_the_entry_point_pulls_in(tmp_path, monkeypatch):
    make_distribution(tmp_path, "ajet-sloppy-judger", "ajet_sloppy_plugin", SLOPPY_PLUGIN)
    make_distribution(
        tmp_path,
        "ajet-lean-judger",
        "ajet_lean_plugin",
        "from ajet_core.hookspecs import hookimpl\n",
    )
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    )
    assert heavy_imports("ajet-sloppy-judger") == {"ajet_sloppy_plugin": ["openai"]}
    assert heavy_imports("ajet-lean-judger") == {}
    # The packages this repository ships keep their entry points light.
    assert heavy_imports("ajet-plugins-std") == {}
    assert heavy_imports("ajet-backbone-debug") == {}


def test_entry_point_costs_are_measured_not_looked_up_in_a_list(tmp_path, monkeypatch):
    """datasets (pandas, pyarrow) is on no list of heavy modules; its import cost is measured."""
    make_distribution(
        tmp_path,
        "ajet-slow-reader",
        "ajet_slow_plugin",
        "import datasets  # noqa: F401\nfrom ajet_core.hookspecs import hookimpl\n",
    )
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    )
    [(name, cost)] = entry_point_costs("ajet-slow-reader").items()
    assert name == "ajet_slow_plugin" and cost.heavy() == []
    assert cost.cpu_seconds > SLOW_IMPORT_SECONDS
    assert {"datasets", "pandas", "pyarrow"} <= set(cost.modules)
    for shipped in ("ajet-plugins-std", "ajet-backbone-debug", "ajet-judger-example"):
        for cost in entry_point_costs(shipped).values():
            assert cost.cpu_seconds < SLOW_IMPORT_SECONDS, (shipped, cost)


def test_the_kits_result_check_accepts_and_refuses_what_a_run_does():
    """The kit and the runtime agree: numpy's float and bool scalars pass both; a string
    reward or success fails both (the kit says a run would fail the episode)."""
    import numpy as np
    import pytest

    from ajet_core.judging import Judger, JudgeResult
    from ajet_core.schema import Task
    from ajet_core.testing import JudgerConformance
    from ajet_core.workflow import WorkflowOutput

    def judger_returning(reward, is_success):
        class Fixed(Judger):
            def judge(self, task, output):
                return JudgeResult(reward=reward, is_success=is_success)

        return Fixed()

    case = (Task(task_id="1"), WorkflowOutput())
    kit = JudgerConformance()
    kit.test_result_types(judger_returning(np.float32(1.0), np.True_), case)
    kit.test_result_types(judger_returning(1, True), case)
    for reward, success in (("1.0", True), (1.0, "yes")):
        with pytest.raises(AssertionError, match="a run would fail this episode"):
            kit.test_result_types(judger_returning(reward, success), case)
