"""Both adapters register through the model-client hook and show up in ``ajet plugins list``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ajet_core.plugins.manager import get_plugin_manager

AJET = Path(sys.executable).with_name("ajet")
ADAPTERS = {"ajet-plugins-agentscope": "agentscope", "ajet-plugins-langchain": "langchain"}


def test_plugins_list_shows_both_adapters_and_what_they_register():
    for module in ("ajet_plugins_agentscope", "ajet_plugins_langchain"):
        pytest.importorskip(module)
    result = subprocess.run(
        [str(AJET), "plugins", "list", "--json"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    by_distribution = {p["distribution"]: p for p in json.loads(result.stdout)}
    for distribution, client in ADAPTERS.items():
        entry = by_distribution[distribution]
        assert entry["status"] == "ok", entry
        assert entry["registers"]["model_client"] == [client]


@pytest.mark.parametrize("client", sorted(ADAPTERS.values()))
def test_registered_factories_load(client):
    pytest.importorskip(f"ajet_plugins_{client}")
    plugins = get_plugin_manager()
    assert client in plugins.registry("model_client")
    factory = plugins.load_object("model_client", client)
    assert factory.__name__ in ("make_agentscope_model", "make_langchain_chat_model")
