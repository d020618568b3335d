"""AgentJet's ``ajet.utils.robust_dashscope.RobustDashScopeChatModel`` (its learn-to-ask tutorial
imports it) under AgentScope 1.x, against a real OpenAI-compatible server: ``ajet serve`` of the
tiny model, which takes one API key only."""

from __future__ import annotations

import asyncio

import openai
import pytest
import yaml

pytest.importorskip("agentscope")

SERVER_KEY = "the-one-key-the-server-takes"


@pytest.fixture(scope="module")
def server(ajet_serve, tiny_model_dir, tmp_path_factory) -> str:
    config = tmp_path_factory.mktemp("serve") / "serve.yaml"
    config.write_text(yaml.safe_dump({"model": {"path": str(tiny_model_dir)}}))
    return ajet_serve(config, "--api-key", SERVER_KEY)


def chat(model) -> object:
    return asyncio.run(model([{"role": "user", "content": "What is 2 + 3?"}]))


def test_a_failing_key_is_retried_with_the_next_and_then_the_backup(server, monkeypatch):
    from ajet.utils.robust_dashscope import RobustDashScopeChatModel

    monkeypatch.setenv("AJET_ALIEN_LLM_BASE_URL", server)
    monkeypatch.setenv("DASHSCOPE_API_KEY", "revoked-1|revoked-2")
    monkeypatch.setenv("DASHSCOPE_API_KEY_BACKUP", SERVER_KEY)
    model = RobustDashScopeChatModel("ajet-policy", max_try=3, generate_kwargs={"max_tokens": 4})
    assert model.keys[-1] == SERVER_KEY and sorted(model.keys[:2]) == ["revoked-1", "revoked-2"]
    response = chat(model)
    assert response.content and response.content[0]["type"] == "text"
    # Two tries cannot reach the backup key: the server's refusal comes through.
    impatient = RobustDashScopeChatModel("ajet-policy", max_try=2)
    with pytest.raises(openai.AuthenticationError):
        chat(impatient)


def test_without_a_key_it_says_which_variables_to_set(monkeypatch):
    from ajet.utils.robust_dashscope import RobustDashScopeChatModel

    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    monkeypatch.delenv("DASHSCOPE_API_KEY_BACKUP", raising=False)
    with pytest.raises(ValueError, match="DASHSCOPE_API_KEY"):
        RobustDashScopeChatModel()


def test_agentjet_schema_task_is_this_projects_own_types():
    import ajet_core
    from ajet.schema.task import Task, WorkflowOutput, WorkflowTask

    assert Task is ajet_core.schema.Task
    assert (WorkflowTask, WorkflowOutput) == (ajet_core.WorkflowTask, ajet_core.WorkflowOutput)
