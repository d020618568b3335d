"""The config shows the truth about plugins: every option the selected plugin runs with, every
installed plugin's version in run.json, missing data files before any model loads."""

from __future__ import annotations

import json

import pytest
import yaml

from ajet_core.backbone import build_backbone
from ajet_core.config.loader import load_config
from ajet_core.config.plugin_sections import resolve_loggers, validate_plugin_sections
from ajet_core.testing import isolated_plugin_manager
from ajet_core.training.run_dir import CONFIG_FILE, RUN_INFO_FILE, create_run_dir

from .helpers import run_ajet

DISTRIBUTIONS = ("ajet-core", "ajet-plugins-std", "ajet-judger-example", "ajet-backbone-debug")


def test_config_show_includes_the_selected_plugins_defaults():
    shown = run_ajet("config", "show", "judger.type=keyword_coverage", "judger.keywords_key=kw")
    assert shown.returncode == 0, shown.stderr
    data = yaml.safe_load(shown.stdout)
    # What the user wrote, and every default of the judger's config_model next to it.
    assert data["judger"] == {
        "type": "keyword_coverage",
        "keywords_key": "kw",
        "answer_key": "final_answer",
        "case_sensitive": False,
        "success_threshold": 1.0,
    }
    assert data["task_reader"]["on_bad_line"] == "error"  # the jsonl reader's default


def test_the_run_folder_records_plugin_defaults_and_versions(tmp_path):
    config = load_config(
        None,
        [f"experiment.output_dir={tmp_path}", "judger.type=keyword_coverage"],
    ).config
    with isolated_plugin_manager(DISTRIBUTIONS) as plugins:
        validate_plugin_sections(config, plugins)
        resolve_loggers(config, plugins)
        run_dir = create_run_dir(config)
    written = yaml.safe_load((run_dir / CONFIG_FILE).read_text())
    assert written["judger"]["success_threshold"] == 1.0
    # Re-reading the written config gives the same plugin options: it can be run again as is.
    again = load_config(run_dir / CONFIG_FILE).config
    assert again.judger.plugin_options() == config.judger.plugin_options()
    info = json.loads((run_dir / RUN_INFO_FILE).read_text())
    assert info["plugins"]["ajet_judger_example"] == {
        "distribution": "ajet-judger-example",
        "version": plugins.plugins["ajet_judger_example"].version,
        "status": "ok",
    }
    assert set(info["plugins"]) == set(plugins.plugins)


def test_a_missing_data_file_is_reported_before_the_model_loads(tmp_path):
    result = run_ajet(
        "rollout",
        "task_reader.type=jsonl",
        f"task_reader.train_path={tmp_path / 'missing.jsonl'}",
        # No model at all: the data-file check must come first.
        "workflow.name=tutorial/example_math_agent/math_agent.py:MathAgent",
    )
    assert result.returncode == 2, result.stdout
    assert "task_reader.train_path: data file" in result.stderr
    assert "missing.jsonl' does not exist" in result.stderr


def test_the_run_plan_is_typed_and_builds_the_backbone():
    from ajet_core.backbone import Backbone, TrainedRun
    from ajet_core.config.plugin_sections import RunPlan
    from ajet_core.training.loop import LoopResult

    config = load_config(None, ["judger.type=keyword_coverage", "backbone.name=debug"]).config
    with isolated_plugin_manager(DISTRIBUTIONS) as plugins:
        plan = validate_plugin_sections(config, plugins)
    assert isinstance(plan, RunPlan) and plan.config is config
    assert (plan.task_reader.name, plan.judger.name, plan.tracker.name) == (
        "jsonl",
        "keyword_coverage",
        "timeline_merge",
    )
    assert plan["judger"] is plan.judger
    with pytest.raises(KeyError, match="no plugin section 'judge'"):
        plan["judge"]
    backbone = build_backbone(plan)
    assert type(backbone).__name__ == "DebugBackbone" and backbone.options is plan.backbone.options
    # The contract says what each command returns; the in-process result is one of them.
    train = Backbone.train.__annotations__  # strings: the module postpones annotations
    assert (train["resolved"], train["return"]) == ("RunPlan", TrainedRun.__name__)
    assert Backbone.rollout.__annotations__["return"] == "list[EpisodeRecord]"
    assert issubclass(LoopResult, TrainedRun)


def test_plugin_options_have_one_spelling_and_the_old_one_still_works(ajet_plugins):
    from pydantic import ConfigDict

    from ajet_core.backbone import Backbone
    from ajet_core.judging import Judger, JudgerConfig
    from ajet_core.loggers import MetricLogger
    from ajet_core.plugin_options import PluginWithOptions, options_model_of
    from ajet_core.readers import TaskReader

    # options_model + self.options for every kind of plugin.
    assert all(
        issubclass(base, PluginWithOptions) for base in (Judger, TaskReader, Backbone, MetricLogger)
    )

    class Threshold(JudgerConfig):
        model_config = ConfigDict(extra="forbid")
        threshold: float = 0.5

    with pytest.warns(DeprecationWarning, match="config_model, the old name of options_model"):

        class OldStyle(Judger):
            config_model = Threshold

            def judge(self, task, output):
                return self.config.threshold  # the old attribute name

    assert options_model_of(OldStyle) is Threshold and OldStyle.options_model is Threshold
    judger = OldStyle(Threshold(threshold=0.9))
    assert judger.options.threshold == 0.9
    with pytest.warns(DeprecationWarning, match=r"OldStyle.config is the old name of .options"):
        assert judger.judge(None, None) == 0.9

    class NewStyle(Judger):
        options_model = Threshold

    with pytest.warns(DeprecationWarning, match="NewStyle.config_model is the old name"):
        assert NewStyle.config_model is Threshold  # code that reads the old name still works
