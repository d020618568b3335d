"""Workflow/judger paths: a project's own package shadowed by an already imported one."""

from __future__ import annotations

import pytest

from ajet_core.errors import ConfigError
from ajet_core.importing import import_object


def test_a_project_package_shadowed_by_a_loaded_one_is_named(tmp_path, monkeypatch):
    # 'json' stands in for any installed package imported earlier in the process (the
    # openai-agents SDK's 'agents'): the project's json/ folder can no longer be imported.
    (tmp_path / "json").mkdir()
    (tmp_path / "json" / "__init__.py").write_text("")
    (tmp_path / "json" / "agent.py").write_text("class Agent:\n    pass\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"another package named 'json' is already imported"):
        import_object("json.agent:Agent")


def test_a_project_package_loads_when_nothing_shadows_it(tmp_path, monkeypatch):
    (tmp_path / "myproject_pkg").mkdir()
    (tmp_path / "myproject_pkg" / "__init__.py").write_text("")
    (tmp_path / "myproject_pkg" / "agent.py").write_text("class Agent:\n    pass\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_object("myproject_pkg.agent:Agent").__name__ == "Agent"
