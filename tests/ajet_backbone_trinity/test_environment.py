"""The trinity environment as the set-up builds it, and the backbone's diagnosis of it."""

from __future__ import annotations

import importlib.util
import json
from importlib import metadata

from packaging.version import Version

from ajet_backbone_trinity import environment
from ajet_core.testing.environment import run_python, shadow_distribution


def test_torch_is_the_pinned_cpu_build():
    assert Version(metadata.version("torch")).base_version == "2.13.0"


def test_transformers_satisfies_trinitys_pin():
    # trinity-rft 0.6 declares transformers>=5.12.1: why it cannot share verl 0.9's environment.
    assert Version(metadata.version("transformers")) >= Version("5.12.1")


def test_agentscope_1_imports_with_its_react_agent():
    # trinity-rft's agent extra needs AgentScope 1.x; its import needs mcp<2 and greenlet.
    result = run_python(
        "import agentscope\n"
        "from agentscope.agent import ReActAgent\n"
        "from agentscope.model import OpenAIChatModel\n"
        "print(agentscope.__version__)"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert Version(result.stdout.strip().splitlines()[-1]).major == 1


def test_trinity_workflow_api_imports_and_the_vllm_boundary_is_where_we_expect():
    # The seams the backbone builds on import without vLLM; the explorer and the model wrapper
    # import vLLM at module level, so CPU tests stand in for `vllm` there and only there.
    result = run_python(
        "import json, importlib\n"
        "from trinity.common.workflows.workflow import Workflow, Task\n"
        "from trinity.common.experience import Experience\n"
        "import trinity.common.config\n"
        "outcome = {}\n"
        "for name in ('trinity.common.models.model', 'trinity.explorer'):\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "        outcome[name] = 'ok'\n"
        "    except ModuleNotFoundError as exc:\n"
        "        outcome[name] = exc.name\n"
        "print(json.dumps(outcome))\n"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    expected = "ok" if importlib.util.find_spec("vllm") is not None else "vllm"
    assert outcome == {"trinity.common.models.model": expected, "trinity.explorer": expected}


def test_check_reports_the_installed_stack():
    report = environment.check()
    assert report.ok, report.format()
    for name in ("trinity-rft", "transformers", "torch", "ray", "verl", "agentscope"):
        assert report.versions[name] == metadata.version(name)
    # AgentScope 1.x is here, so no warning about trinity's agent extra.
    assert not any("agent extra" in warning for warning in report.warnings)
    if importlib.util.find_spec("vllm") is None:
        assert any(w.startswith("vLLM is not installed") for w in report.warnings)
    text = report.format()
    assert text.startswith("trinity backbone environment: ok")
    assert json.loads(json.dumps(report.to_json()))["ok"] is True


CHECK_OUTCOME = (
    "import json\nfrom ajet_backbone_trinity.environment import check\nreport = "
    "check()\nprint(json.dumps({'ok': report.ok, 'problems': report.problems, 'warnings': "
    "report.warnings}))\n"
)


def test_check_names_a_transformers_release_trinity_rejects(tmp_path):
    # verl 0.9's transformers (<5.11) in this environment violates trinity-rft's own pin.
    result = run_python(CHECK_OUTCOME, shadow_distribution(tmp_path, "transformers", "5.10.4"))
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["ok"] is False
    assert (
        "trinity-rft requires transformers>=5.12.1, but transformers 5.10.4 is installed"
        in outcome["problems"]
    )


def test_check_warns_when_agentscope_is_2x(tmp_path):
    result = run_python(CHECK_OUTCOME, shadow_distribution(tmp_path, "agentscope", "2.0.11"))
    outcome = json.loads(result.stdout)
    assert outcome["ok"] is True  # the backbone works; AgentScope workflows under trinity do not
    assert any(
        w.startswith(
            "agentscope 2.0.11 is installed: trinity-rft's agent extra needs agentscope>=1.0.19,<2"
        )
        for w in outcome["warnings"]
    )


def test_the_install_commands_take_vllm_from_trinitys_own_extra():
    """`ajet[trinity]` and the README's command get vLLM through trinity-rft's `vllm` extra, so pip
    resolves a vLLM in the range trinity declares (a bare `vllm` would fetch the newest)."""
    import tomllib
    from packaging.requirements import Requirement

    from .helpers import REPO

    wanted = environment.vllm_requirement()
    assert wanted is not None and str(wanted.specifier) == "<=0.23.0,>=0.19.1"  # trinity 0.6.0
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["trinity"]
    readme = (REPO / "ajet_backbone_trinity" / "README.md").read_text()
    install = readme[readme.index("## Install") : readme.index("## GPU smoke test")]
    commands = [line for line in install.splitlines() if line.startswith("pip install")]
    # Runnable as written from a checkout: local folders that exist, and real requirements (no
    # unpublished `ajet[...]` extra).
    [package_line] = commands
    tokens = [token.strip("'") for token in package_line.split()[2:]]
    folders = [token for token in tokens if token.startswith("./")]
    assert "./ajet_backbone_trinity" in folders and "./ajet_core" in folders
    assert all((REPO / folder / "pyproject.toml").is_file() for folder in folders)
    named = [Requirement(token) for token in tokens if not token.startswith(("./", "-"))]
    assert not any(r.name == "ajet" for r in named)
    for requirements in ([Requirement(r) for r in extra], named):
        trinity = next(r for r in requirements if r.name == "trinity-rft")
        assert {"vllm", "agent"} <= trinity.extras
        assert trinity.specifier == Requirement(environment.TRINITY_REQUIREMENT).specifier
        assert not any(r.name == "vllm" for r in requirements)  # no bare vllm beside it


def test_check_names_a_vllm_outside_trinitys_range(tmp_path):
    result = run_python(CHECK_OUTCOME, shadow_distribution(tmp_path, "vllm", "0.24.0"))
    outcome = json.loads(result.stdout)
    assert outcome["ok"] is False
    trinity = metadata.version("trinity-rft")
    assert (
        f"vLLM 0.24.0 is installed but trinity-rft {trinity}'s vllm extra needs "
        "vllm<=0.23.0,>=0.19.1" in outcome["problems"][0]
    )
    in_range = run_python(CHECK_OUTCOME, shadow_distribution(tmp_path / "ok", "vllm", "0.20.0"))
    assert json.loads(in_range.stdout)["ok"] is True
