"""The environments AgentJet users land in have what AgentJet's tutorials import: the ``ajet``
meta package (AgentScope 1.x users are in the trinity environment), ``loguru`` and
``gymnasium``. Checked from a folder outside the repository, so ``ajet`` must come from the
installed package and not from the working directory."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROBE = (
    "import ajet, loguru, gymnasium\n"
    "from ajet import AgentJetJob, AjetTuner, Workflow, WorkflowOutput, WorkflowTask\n"
    "from ajet.task_judge.base_judge import BaseJudge\n"
    "from gymnasium.envs.toy_text.frozen_lake import FrozenLakeEnv\n"
    "print(ajet.__file__)\n"
)


@pytest.mark.parametrize("env", ["main", "trinity"])
def test_agentjet_tutorial_imports_resolve(env, tmp_path):
    python = REPO / ".venvs" / env / "bin" / "python"
    if not python.exists():
        pytest.skip(f"no {env} environment at {python} (scripts/setup_env.sh {env})")
    result = subprocess.run(
        [str(python), "-c", PROBE],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, (
        f"scripts/setup_env.sh {env} is missing something:\n{result.stderr}"
    )
    assert Path(result.stdout.strip()).parent == REPO / "ajet"
