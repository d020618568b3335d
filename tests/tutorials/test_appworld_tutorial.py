"""The AppWorld-style tutorial: its apps change state through their API and refuse bad calls
with tool errors that name the API and the argument, every episode has its own state, the judge
scores the final state (with the documented partial credit) and never the reply text, the env
server serves all of it through the env-service protocol, and ``run.py`` trains two steps on the
tiny model with the server it starts itself."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ajet_core.metric_loggers.jsonl import read_metrics
from ajet_core.training.records import read_records
from ajet_core.workflow import WorkflowOutput

REPO = Path(__file__).resolve().parents[2]
TUTORIAL = REPO / "tutorial" / "example_appworld"


@pytest.fixture
def apps(monkeypatch):
    monkeypatch.syspath_prepend(str(TUTORIAL))
    import appworld_apps

    return appworld_apps


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("appworld_data")
    subprocess.run(
        [sys.executable, str(TUTORIAL / "make_data.py"), "--out", str(out)]
        + ["--train", "60", "--held-out", "6"],
        check=True,
        capture_output=True,
    )
    return out


def tasks_of(apps, data_dir: Path, split: str = "train"):
    return apps.load_tasks(str(data_dir / f"{split}.jsonl"))


def call(apps, env, name: str, arguments) -> tuple[str, bool]:
    result = env.step(apps.action_message(name, arguments))
    return result.observation, result.info["ok"]


def test_the_apps_change_state_and_refuse_bad_calls_with_clear_tool_errors(apps, data_dir):
    task = tasks_of(apps, data_dir)[0]
    env = apps.AppWorldEnv(task)
    first = env.reset()
    assert first[0]["role"] == "system" and task.instruction in first[1]["content"]

    observation, ok = call(apps, env, "contacts_add", {"name": "Zed Quist", "phone": "555-0100",
                                                       "email": "zed@example.com"})  # fmt: skip
    assert ok and json.loads(observation) == {"contact_id": len(task.initial.contacts) + 1}
    [zed] = json.loads(call(apps, env, "contacts_search", {"query": "zed"})[0])
    assert zed["phone"] == "555-0100"
    update = json.dumps(
        {"contact_id": zed["id"], "phone": "555-0199"}
    )  # a JSON string, as SDKs send
    observation, ok = call(apps, env, "contacts_update", update)
    assert ok and json.loads(observation)["phone"] == "555-0199"
    item = json.loads(
        call(apps, env, "todo_add", {"title": "Water cactus", "due": "2026-12-09"})[0]
    )
    assert ok and env.state.todos[-1].title == "Water cactus"
    assert str(env.state.todos[-1].due) == "2026-12-09"
    assert call(apps, env, "todo_complete", {"item_id": item["item_id"]})[1]
    assert env.state.todos[-1].done

    before = env.state.model_copy(deep=True)
    bad_calls = [
        ("todo_fly", {}, ["no API named 'todo_fly'", "todo_list"]),
        ("todo_add", "{title: 1", ["todo_add: the arguments are not JSON"]),
        ("todo_add", {}, ["todo_add", "argument title: Field required", "title, due?"]),
        ("todo_add", {"title": "x", "colour": "red"}, ["argument colour: Extra inputs"]),
        ("todo_complete", {"item_id": 999}, ["no to-do item with id 999", "call todo_list"]),
        ("todo_complete", {"item_id": item["item_id"]}, ["is already done"]),
        ("calendar_create", {"title": "x", "date": "2026-13-40", "start": "9am"},
         ["argument date", "argument start", "String should match pattern"]),
        ("contacts_update", {"contact_id": zed["id"]}, ["give phone, email or both"]),
        ("contacts_add", {"name": "zed quist", "phone": "555-1234", "email": "z@example.com"},
         ["a contact named 'zed quist' exists", "contacts_update"]),
    ]  # fmt: skip
    for name, arguments, phrases in bad_calls:
        observation, ok = call(apps, env, name, arguments)
        assert not ok and observation.startswith("Error: "), observation
        for phrase in phrases:
            assert phrase in observation, (phrase, observation)
    not_json = env.step("please add milk")
    assert not not_json.info["ok"] and "one API call as JSON" in not_json.observation
    # A refused call changes nothing.
    assert env.state == before


def test_every_episode_gets_its_own_copy_of_the_initial_state(apps, data_dir):
    task = tasks_of(apps, data_dir)[0]
    initial = task.initial.model_copy(deep=True)
    one, two = apps.AppWorldEnv(task), apps.AppWorldEnv(task)
    one.reset(), two.reset()
    call(apps, one, "contacts_delete", {"contact_id": task.initial.contacts[0].id})
    assert len(one.state.contacts) == len(initial.contacts) - 1
    assert two.state == initial and task.initial == initial
    one.reset()
    assert one.state == initial


def test_each_reference_solution_reaches_the_ground_truth_and_scores_one(apps, data_dir):
    tasks = tasks_of(apps, data_dir)
    assert {t.kind for t in tasks} == {
        "complete_todo", "update_phone", "meeting_with_contacts", "new_contact_and_todo",
        "cancel_day", "clear_done",
    }  # fmt: skip
    for task in tasks:
        assert len(task.solution) >= 2, task.kind  # every task takes several API calls
        env = apps.AppWorldEnv(task)
        env.reset()
        assert env.evaluate() == 0.0, task.kind  # nothing done yet
        for solution_call in task.solution:
            assert call(apps, env, solution_call.name, solution_call.arguments)[1]
        assert env.evaluate() == 1.0 and env.state != task.initial


def test_partial_credit_and_collateral_damage(apps, data_dir):
    task = next(
        t for t in tasks_of(apps, data_dir) if t.kind == "cancel_day" and len(t.solution) == 5
    )  # list, two cancels, two to-dos: four checks
    env = apps.AppWorldEnv(task)
    env.reset()
    for solution_call in task.solution[:3]:  # the events cancelled, no to-do added yet
        call(apps, env, solution_call.name, solution_call.arguments)
    judged = env.judge()
    assert (judged.checks, judged.checks_met, judged.collateral) == (4, 2, [])
    assert judged.score == 0.5
    # Deleting a contact the task never mentioned halves the score.
    call(apps, env, "contacts_delete", {"contact_id": task.initial.contacts[0].id})
    judged = env.judge()
    assert judged.score == 0.25 and judged.collateral[0].startswith("lost: ")
    # The order new records were made in (their ids) does not matter.
    env.reset()
    for solution_call in [task.solution[0], *reversed(task.solution[1:])]:
        call(apps, env, solution_call.name, solution_call.arguments)
    assert env.evaluate() == 1.0


@pytest.fixture(scope="module")
def appworld_server(data_dir):
    """The tutorial's server as ``run.py`` starts it: on a socket bound here (port 0, no race)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, str(TUTORIAL / "appworld_server.py"), "--data", str(data_dir)]
        + ["--fd", str(sock.fileno())],
        pass_fds=[sock.fileno()],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    sock.close()
    url = f"http://127.0.0.1:{port}"
    try:
        while True:  # readiness: /health answers (or the server died, with its reason)
            if process.poll() is not None:
                pytest.fail(f"appworld server exited: {process.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


async def test_the_server_serves_the_apps_and_the_judge_rewards_state_not_a_text_claim(
    apps, appworld_server, data_dir
):
    from ajet_plugins_std.judgers.env_service import EnvServiceJudger, EnvServiceJudgerConfig
    from ajet_plugins_std.readers.env_service import EnvServiceReaderConfig, EnvServiceTaskReader

    reader = EnvServiceTaskReader(EnvServiceReaderConfig(url=appworld_server, env_type="appworld"))
    judger = EnvServiceJudger(EnvServiceJudgerConfig(success_threshold=1.0))
    assert [t.task_id for t in reader.iter_tasks("validation")] == [
        f"heldout-{i}" for i in range(6)
    ]
    [task] = [t for t in reader.iter_tasks("train") if t.task_id == "train-0"]
    truth = {t.task_id: t for t in tasks_of(apps, data_dir)}
    solution = truth["train-0"].solution
    claim = WorkflowOutput(metadata={"final_reply": "Done! I made every change you asked for."})

    # Episode 1 only claims success; episode 2, at the same time, makes the calls.
    async with reader.episode_env(task, "claimer") as (claimer_task, _claimer_env):
        async with reader.episode_env(task, "worker") as (worker_task, worker_env):
            assert truth["train-0"].instruction in worker_task.main_query
            for solution_call in solution:
                observation, _, _, info = await worker_env.astep(
                    {"role": "assistant", "content": apps.action_message(
                        solution_call.name, solution_call.arguments)}
                )  # fmt: skip
                assert info["ok"], observation
            observation, _, _, info = await worker_env.astep(
                {"role": "assistant", "content": apps.action_message("todo_fly", {})}
            )
            assert not info["ok"] and observation.startswith("Error: no API named 'todo_fly'")
            claimed = await judger.ajudge(claimer_task, claim)
            worked = await judger.ajudge(worker_task, WorkflowOutput())
    assert (claimed.reward, claimed.is_success) == (0.0, False)
    assert (worked.reward, worked.is_success) == (1.0, True)
    reader.close()


def env_answer(text: str) -> bool:
    """What the env server sends back for a call: a JSON result or an app's ``Error: ...``."""
    if text.startswith("Error: "):
        return True
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.timeout(1200)  # a whole job in a subprocess: the hang detector, sized for load
def test_run_py_trains_two_steps_on_the_tiny_model_with_the_server_it_starts(
    tmp_path, tiny_model_dir, data_dir
):
    max_turns = 3
    overrides = [
        f"model.path={tiny_model_dir}",
        f"experiment.output_dir={tmp_path / 'runs'}",
        "trainer.total_steps=2", "rollout.batch_size=2", "rollout.num_repeat=2",
        "rollout.equal_reward_groups=keep",  # the tiny model's rewards are all zero
        "rollout.max_tokens_per_call=48", "eval.before_train=false", "eval.after_train=false",
        "checkpoint.every_n_steps=0", "logging.loggers=[jsonl]", "logging.records=all",
        f"workflow.options.max_turns={max_turns}",
    ]  # fmt: skip
    result = subprocess.run(
        [sys.executable, str(TUTORIAL / "run.py"), "--data", str(data_dir), "train", "--conf"]
        + [str(TUTORIAL / "appworld.yaml"), *overrides],
        capture_output=True,
        text=True,
        cwd=REPO,  # the YAML names the workflow by its repository path
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [run_dir] = list((tmp_path / "runs").glob("*/*"))
    rows = [r for r in read_metrics(run_dir) if "rollout/episodes" in r]
    assert [r["step"] for r in rows] == [1, 2]
    for row in rows:
        assert row["train/tokens"] > 0  # a policy update ran on the episodes' tokens
        assert row["rollout/drift_fallbacks"] == 0 and row["samples/per_episode"] == 1.0
        records = list(read_records(run_dir / "records" / f"train_step_{row['step']:06d}.jsonl.gz"))
        assert len(records) == 4 and all(r["error"] is None for r in records)
        for record in records:
            calls = record["calls"]
            # The tiny model never calls supervisor_complete_task: every turn is used, and each
            # call's conversation extends the one before (merged into the one sample).
            assert len(calls) == max_turns
            for before, after in zip(calls, calls[1:], strict=False):
                assert after["messages"][: len(before["messages"])] == before["messages"]
            # Every tool call the model made went to the env server, whose answer came back as
            # the tool message of the next call.
            tool_calls = [tc for c in calls for tc in (c["reply"] or {}).get("tool_calls") or []]
            assert record["log_metrics"]["api_calls"] == len(tool_calls)
            answers = [m for m in calls[-1]["messages"] if m["role"] == "tool"]
            assert all(env_answer(m["content"]) for m in answers)
            # The reward is the server's state judge (nothing was changed: 0), not the text.
            assert record["judger_metrics"]["env_score"] == record["reward"] == 0.0


def scripted_replies(calls: list[tuple[str, dict]]):
    """Model text for each turn in order: one Hermes ``<tool_call>`` per API call."""
    replies = iter(
        f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"
        for name, arguments in calls
    )
    return lambda _prompt: next(replies, "All done.")


@pytest.mark.parametrize("does_the_work", [True, False], ids=["makes_the_calls", "only_claims"])
async def test_the_workflow_routes_each_tool_call_to_the_server_and_is_judged_by_state(
    apps, appworld_server, data_dir, tiny_model_dir, does_the_work
):
    """The workflow's whole path with every model reply scripted (the plumbing around the model:
    no local model produces these tool calls, see the README): the gateway parses the tool calls,
    the workflow sends each to the server as one step and feeds the answer back, the episode
    ends at supervisor_complete_task, the server's judge scores the state, and the episode's
    calls merge into one sample without drift."""
    from ajet_plugins_std.judgers.env_service import EnvServiceJudger
    from ajet_plugins_std.readers.env_service import EnvServiceReaderConfig, EnvServiceTaskReader
    from transformers import AutoTokenizer

    from ajet_core.config.models import AjetConfig
    from ajet_core.gateway.core import Gateway
    from ajet_core.gateway.scripted_engine import ScriptedEngine
    from ajet_core.importing import import_object
    from ajet_core.schema import EpisodeRecord
    from ajet_core.tracking.timeline_merge import TimelineMergeTracker
    from ajet_core.workflow import WorkflowTask

    truth = next(t for t in tasks_of(apps, data_dir) if t.kind == "meeting_with_contacts")
    script = [(c.name, c.arguments) for c in truth.solution]
    # A wrong first call, answered with the app's error, then the right ones.
    script = [("calendar_create", {"title": truth.solution[-1].arguments["title"]}), *script]
    script.append((apps.COMPLETE, {}))
    if not does_the_work:
        script = []  # every reply is the text claim "All done."
    engine = ScriptedEngine(AutoTokenizer.from_pretrained(tiny_model_dir), scripted_replies(script))
    config = AjetConfig.model_validate({"rollout": {"max_tokens_per_call": 128}})
    gateway = Gateway(engine, config, mode="train")
    handle = gateway.open_episode("ep", seed=0)
    reader = EnvServiceTaskReader(EnvServiceReaderConfig(url=appworld_server, env_type="appworld"))
    [task] = [t for t in reader.iter_tasks("train") if t.task_id == truth.task_id]
    agent_class = import_object(f"{TUTORIAL / 'appworld_agent.py'}:AppWorldAgent")
    agent = agent_class(max_turns=6)
    async with reader.episode_env(task, "ep") as (episode_task, gym_env):
        workflow_task = WorkflowTask(task_id=task.task_id, task=episode_task, gym_env=gym_env)
        output = await agent.execute(workflow_task, handle.tuner)
        judged = await EnvServiceJudger().ajudge(episode_task, output)
    reader.close()
    recording = handle.close()

    if not does_the_work:
        assert judged.reward == 0.0 and not judged.is_success
        assert len(recording.calls) == 6 and output.log_metrics["api_calls"] == 0
        return
    assert judged.reward == 1.0 and judged.is_success
    assert output.log_metrics == {
        "api_calls": len(script), "api_errors": 1.0, "turns": len(script), "completed": 1.0,
    }  # fmt: skip
    # Every turn's reply was a parsed tool call, in the order of the script.
    assert [c.finish_reason for c in recording.calls] == ["tool_calls"] * len(script)
    names = [c.reply["tool_calls"][0]["function"]["name"] for c in recording.calls]
    assert names == [name for name, _ in script]
    # Each next call saw the server's answer to the previous one as its tool message.
    first_answer = recording.calls[1].messages[-1]
    assert first_answer["role"] == "tool"
    assert first_answer["content"].startswith("Error: calendar_create: argument date: Field")
    search_answer = json.loads(recording.calls[2].messages[-1]["content"])
    assert truth.solution[-1].arguments["attendees"][0] in [c["email"] for c in search_answer]
    # Multi-turn tool calls captured at token level: one merged sample, no drift.
    assert recording.drift_fallbacks == 0 and recording.malformed_tool_calls == 0
    record = EpisodeRecord(episode_id="ep", task=task, calls=recording.calls)
    [sample] = TimelineMergeTracker.from_config(config).build_samples(record)
    assert sum(sample.loss_mask) == sum(len(c.response_ids) for c in recording.calls)
