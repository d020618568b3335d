"""The Werewolves tutorial: four AgentScope 2.x agents in one episode, only the werewolf trained.

On the tiny model through the real gateway: every player's calls are recorded, only the
werewolf's become samples (one merged sample per game, zero drift fallbacks), per-role metrics
add up; the villagers can play on a fixed model served by `ajet serve` in another process; and
`ajet train` runs a step on the debug backbone. The game rules are tested on their own.
"""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from ajet_core import metrics as m
from ajet_core.metric_loggers.jsonl import read_metrics

REPO = Path(__file__).resolve().parents[2]
TUTORIAL = REPO / "tutorial" / "example_werewolves"

pytest.importorskip("ajet_plugins_agentscope")
pytest.importorskip("agentscope")
if int(metadata.version("agentscope").split(".")[0]) != 2:  # pragma: no cover - other envs
    pytest.skip(
        "the Werewolves tutorial uses the AgentScope 2.x agent API", allow_module_level=True
    )


def load_rules():
    spec = importlib.util.spec_from_file_location(
        "werewolves_rules_under_test", TUTORIAL / "werewolves_rules.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def test_rules_night_kills_votes_and_winners():
    rules = load_rules()
    game = rules.Game(
        {"A": rules.VILLAGER, "B": rules.WEREWOLF, "C": rules.VILLAGER, "D": rules.VILLAGER}
    )
    game.day = 1
    assert game.night_kill("B") is None and game.night_kill("Zed") is None  # not a living villager
    assert game.night_kill("A") == "A" and game.alive == ["B", "C", "D"]
    # No strict majority: nobody leaves; invalid and self votes abstain.
    assert game.tally({"B": "C", "C": "D", "D": "D"}) is None
    assert game.winner() is None
    assert game.tally({"B": "C", "C": "B", "D": "B"}) == "B"
    assert game.winner() == rules.VILLAGERS_WIN

    parity = rules.Game({"A": rules.VILLAGER, "B": rules.WEREWOLF, "C": rules.VILLAGER})
    parity.night_kill("A")
    assert parity.winner() == rules.WEREWOLVES_WIN
    stalled = rules.Game(
        {"A": rules.VILLAGER, "B": rules.WEREWOLF, "C": rules.VILLAGER, "D": rules.VILLAGER},
        max_days=2,
    )
    stalled.day = 2
    assert stalled.winner() == rules.VILLAGERS_WIN
    with pytest.raises(ValueError, match="exactly one werewolf"):
        rules.Game({"A": rules.VILLAGER, "B": rules.VILLAGER, "C": rules.VILLAGER})


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("werewolves_data")
    subprocess.run(
        [
            sys.executable,
            str(TUTORIAL / "make_data.py"),
            "--out",
            str(out),
            "--train",
            "3",
            "--validation",
            "1",
        ],
        check=True,
        capture_output=True,
    )
    return out


def write_config(folder: Path, tiny_model_dir: Path, data_dir: Path, **sections) -> Path:
    """The tutorial's YAML, pointed at the tiny model and small enough for a test."""
    config = yaml.safe_load((TUTORIAL / "werewolves.yaml").read_text())
    config["experiment"]["output_dir"] = str(folder / "runs")
    config["model"] = {"path": str(tiny_model_dir), "max_model_len": 4096}
    config["task_reader"].update(
        train_path=str(data_dir / "train.jsonl"), validation_path=str(data_dir / "validation.jsonl")
    )
    config["workflow"]["name"] = str(TUTORIAL / "werewolves.py") + ":WerewolvesGame"
    config["judger"]["type"] = str(TUTORIAL / "judger.py") + ":WerewolfWinJudger"
    config["rollout"].update(
        max_tokens_per_call=24, batch_size=1, num_repeat=2, equal_reward_groups="keep"
    )
    config["logging"] = {"loggers": ["jsonl"]}
    for section, values in sections.items():
        config.setdefault(section, {}).update(values)
    path = folder / "werewolves.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def game_engine(tiny_model_dir):
    """The tiny model with room for a whole game (four players' memories)."""
    from ajet_backbone_debug.engine import TransformersEngine

    engine = TransformersEngine.from_path(str(tiny_model_dir), max_model_len=4096, seed=0)
    yield engine
    engine.close()


def play(config_path: Path, engine) -> list:
    from ajet_core.config.loader import load_config
    from ajet_core.config.plugin_sections import validate_plugin_sections
    from ajet_core.plugins.manager import get_plugin_manager
    from ajet_core.rollout.runner import TRAIN_MODE
    from ajet_core.training.inprocess import run_episodes

    loaded = load_config(str(config_path), [])
    plugins = get_plugin_manager()
    resolved = validate_plugin_sections(loaded.config, plugins)
    return asyncio.run(
        run_episodes(
            loaded.config,
            resolved,
            plugins,
            engine,
            mode=TRAIN_MODE,
            split="train",
            num_tasks=2,
            num_repeat=1,
            printer=None,
        )
    )


def check_game(episode, *, villagers_on_policy: bool) -> None:
    assert episode.ok, episode.error
    werewolf = episode.task.metadata["werewolf"]
    assert episode.metadata["werewolf"] == werewolf
    assert episode.reward == (1.0 if episode.metadata["winner"] == "werewolves" else 0.0)
    players = set(episode.task.metadata["players"])
    assert {c.agent for c in episode.calls} <= players and werewolf in {
        c.agent for c in episode.calls
    }
    for call in episode.calls:
        assert call.target_tag == ("werewolf" if call.agent == werewolf else "villager")
        assert call.trainable == (call.agent == werewolf)
        # Villagers on a fixed endpoint are recorded with their messages but without tokens.
        assert bool(call.prompt_ids) == (villagers_on_policy or call.agent == werewolf)
    # Each player's game is one growing conversation: zero fallbacks, one werewolf sample.
    assert episode.drift_fallbacks == 0
    assert [(s.agent, s.target_tag) for s in episode.samples] == [(werewolf, "werewolf")]
    trained = {cid for s in episode.samples for cid in s.call_ids}
    assert trained == {c.call_id for c in episode.calls if c.agent == werewolf}


def test_only_the_werewolf_is_trained_and_roles_are_metered(
    tmp_path, tiny_model_dir, data_dir, game_engine
):
    from ajet_core.rollout.summary import rollout_metrics

    episodes = play(write_config(tmp_path, tiny_model_dir, data_dir), game_engine)
    assert len(episodes) == 2
    for episode in episodes:
        check_game(episode, villagers_on_policy=True)
    metrics = rollout_metrics(episodes, seconds=1.0)
    assert metrics[m.agent_metric("werewolf", "samples")] == 2
    assert metrics[m.agent_metric("villager", "samples")] == 0
    assert (
        metrics[m.agent_metric("villager", "calls")] > 0
        and metrics[m.agent_metric("werewolf", "calls")] > 0
    )
    # Role-level names only, however the players were called.
    assert not any(
        k.startswith(m.AGENT_PREFIX) and k.split("/")[1] not in ("werewolf", "villager")
        for k in metrics
    )


def test_villagers_can_play_on_a_fixed_endpoint(
    tmp_path, tiny_model_dir, data_dir, game_engine, ajet_serve
):
    served = tmp_path / "served"
    served.mkdir()
    base_url = ajet_serve(write_config(served, tiny_model_dir, data_dir))
    config = write_config(
        tmp_path,
        tiny_model_dir,
        data_dir,
        workflow={"options": {"max_days": 2, "villager_model": "opponent"}},
        rollout={"fixed_endpoints": {"opponent": {"base_url": base_url, "model": "ajet-policy"}}},
    )
    episodes = play(config, game_engine)
    for episode in episodes:
        check_game(episode, villagers_on_policy=False)
        assert any(not c.prompt_ids and c.reply for c in episode.calls), (
            "no villager call was forwarded"
        )


@pytest.mark.timeout(1200)  # a whole job in a subprocess: the hang detector, sized for load
def test_ajet_train_runs_a_step_on_the_debug_backbone(tmp_path, tiny_model_dir, data_dir):
    config = write_config(
        tmp_path,
        tiny_model_dir,
        data_dir,
        trainer={"total_steps": 1},
        eval={"every_n_steps": 0, "max_tasks": 1},
    )
    result = subprocess.run(
        [str(Path(sys.executable).with_name("ajet")), "train", "--conf", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [run_dir] = list((tmp_path / "runs" / "werewolves").iterdir())
    [row] = [r for r in read_metrics(run_dir) if m.LOSS in r]
    assert row[m.EPISODES] == 2 and row[m.EPISODES_FAILED] == 0 and row[m.DRIFT_FALLBACKS] == 0
    assert (
        row[m.agent_metric("werewolf", "samples")] == 2
        and row[m.agent_metric("villager", "samples")] == 0
    )
    assert row[m.SAMPLES] == 2 and row[m.TRAINED_TOKENS] > 0
