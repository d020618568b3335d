"""Structured output under verl: the gateway's OutputConstraint reaches each rollout server in the
fields that server reads.

Real: the gateway, ``VerlServerEngine``, verl's ``LLMServerClient.generate`` (its load balancer
and Ray actor handles replaced by one server called in-process) and, on the CPU, our rollout
server with the tiny model, whose replies are checked against the schema. vLLM and SGLang cannot
run here (GPU, not installed): for them the test asserts the exact sampling parameters verl's
client hands their server, with vLLM's ``StructuredOutputsParams`` stood in by a class of the
same fields (vLLM 0.24.0's), and that the grammar their llguidance backends build from our Lark
text is the one the debug engine builds.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from ajet_backbone_verl.cpu.server import CpuRolloutServer
from ajet_backbone_verl.cpu.settings import ROLLOUT_NAME
from ajet_backbone_verl.engine import VerlServerEngine
from omegaconf import OmegaConf
from verl.workers.rollout.llm_server import LLMServerClient
from verl.workers.rollout.replica import TokenOutput

from ajet_core.config.models import AjetConfig
from ajet_core.engine import COMPACT_JSON, EngineError, OutputConstraint, SamplingParams
from ajet_core.gateway import Gateway
from ajet_core.testing.vllm import StructuredOutputsParams

from .helpers import make_addition_data, prepare, write_config

llguidance = pytest.importorskip("llguidance")

ANSWER = {
    "type": "object",
    "properties": {
        "answer": {"type": "integer", "minimum": 0, "maximum": 9},
        "mood": {"enum": ["happy", "sad"]},
    },
    "required": ["answer", "mood"],
    "additionalProperties": False,
}
SCHEMA_FORMAT = {"type": "json_schema", "json_schema": {"name": "answer", "schema": ANSWER}}
# What vLLM and SGLang get: the schema with the layout their llguidance backends read from it.
COMPACT_ANSWER = {**ANSWER, "x-guidance": COMPACT_JSON}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"enum": ["UTC", "CET"]}},
            "required": ["zone"],
            "additionalProperties": False,
        },
    },
}
USER = [{"role": "user", "content": "What is 2 + 2, and what time is it?"}]
LARK = 'start: "a" <[5]> %json{"type": "object"}\n'


class ServerHandle:
    """A Ray actor handle's shape for verl's client: ``handle.generate.remote(**kw)`` is
    awaited; each call's keyword arguments are kept."""

    def __init__(self, generate: Any) -> None:
        self.calls: list[dict[str, Any]] = []
        handle = self

        class Remote:
            def remote(self, **kwargs: Any) -> Any:
                handle.calls.append(kwargs)
                return generate(**kwargs)

        self.generate = Remote()


class InProcessClient(LLMServerClient):
    """verl's client with one server and no load balancer (which needs a Ray cluster)."""

    def __init__(self, rollout_name: str, server: ServerHandle) -> None:
        config = OmegaConf.create({"actor_rollout_ref": {"rollout": {"name": rollout_name}}})
        super().__init__(config, load_balancer_handle=None)
        self.server = server

    async def _acquire_server(self, request_id: str, **extra: Any) -> tuple[str, Any]:
        return "server-0", self.server

    def _release_server(self, server_id: str, request_id: str | None = None) -> None:
        return None


@pytest.fixture(scope="module")
def cpu_server(tiny_model_dir):
    server = CpuRolloutServer(
        {"max_model_len": 1024, "response_length": 64, "seed": 3}, {"path": str(tiny_model_dir)}
    )
    yield server
    server.engine.close()


def cpu_gateway(cpu_server) -> tuple[Gateway, ServerHandle]:
    handle = ServerHandle(cpu_server.generate)
    engine = VerlServerEngine(
        InProcessClient(ROLLOUT_NAME, handle), cpu_server.engine.tokenizer, 1024, ROLLOUT_NAME
    )
    config = AjetConfig.model_validate({"rollout": {"temperature": 1.0, "max_tokens_per_call": 64}})
    return Gateway(engine, config, mode="train"), handle


@pytest.mark.parametrize("seed", [1, 2])
async def test_json_schema_through_the_gateway_to_the_cpu_server_is_schema_valid(cpu_server, seed):
    gateway, server = cpu_gateway(cpu_server)
    episode = gateway.open_episode("ep", seed=seed)
    client = episode.tuner.as_raw_openai_sdk_client()
    reply = await client.chat.completions.create(messages=USER, response_format=SCHEMA_FORMAT)
    value = json.loads(reply.choices[0].message.content)
    assert set(value) == {"answer", "mood"} and value["mood"] in ("happy", "sad")
    assert isinstance(value["answer"], int) and 0 <= value["answer"] <= 9
    assert reply.choices[0].finish_reason == "stop"
    [call] = episode.close().calls
    # The server was asked for exactly this schema, in vLLM's field names, and the reply's
    # logprobs are of the constrained distribution (finite for every sampled token).
    [sent] = server.calls
    assert sent["sampling_params"]["structured_outputs"] == {"json": ANSWER}
    assert all(lp <= 0 and lp != float("-inf") for lp in call.response_logprobs)
    assert gateway.stats.unconstrained_outputs == 0


async def test_a_forced_tool_call_on_the_cpu_server_follows_the_lark_grammar(cpu_server):
    gateway, server = cpu_gateway(cpu_server)
    episode = gateway.open_episode("ep", seed=4)
    client = episode.tuner.as_raw_openai_sdk_client()
    reply = await client.chat.completions.create(
        messages=USER, tools=[TIME], tool_choice={"type": "function", "function": TIME["function"]}
    )
    [call] = reply.choices[0].message.tool_calls
    assert call.function.name == "get_time"
    assert json.loads(call.function.arguments) in ({"zone": "UTC"}, {"zone": "CET"})
    [sent] = server.calls
    assert set(sent["sampling_params"]["structured_outputs"]) == {"grammar"}
    episode.close()


async def test_a_grammar_the_cpu_server_cannot_compile_is_the_clients_error(cpu_server):
    gateway, _ = cpu_gateway(cpu_server)
    episode = gateway.open_episode("ep", seed=5)
    client = episode.tuner.as_raw_openai_sdk_client()
    bad = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "nonsense"}}}
    import openai

    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(messages=USER, response_format=bad)
    episode.close()


def recorded_server(tokenizer) -> ServerHandle:
    """What a vLLM/SGLang server returns through verl: token ids, logprobs, its step."""
    eos = tokenizer.eos_token_id

    async def generate(**_: Any) -> TokenOutput:
        return TokenOutput(
            token_ids=[eos], log_probs=[-0.5], stop_reason="completed", extra_fields={}
        )

    return ServerHandle(generate)


def sent_params(rollout: str, tokenizer, constraint: OutputConstraint) -> dict[str, Any]:
    server = recorded_server(tokenizer)
    engine = VerlServerEngine(InProcessClient(rollout, server), tokenizer, 512, rollout)
    sampling = SamplingParams(temperature=0.7, max_tokens=16, seed=3, constraint=constraint)
    import asyncio

    generation = asyncio.run(engine.generate([1, 2, 3], sampling))
    assert generation.token_ids == [tokenizer.eos_token_id]
    [call] = server.calls
    assert call["prompt_ids"] == [1, 2, 3]
    return call["sampling_params"]


def test_vllm_gets_structured_outputs_params_with_json_or_grammar(vllm_stand_in, cpu_server):
    tokenizer = cpu_server.engine.tokenizer
    params = sent_params("vllm", tokenizer, OutputConstraint(json_schema=ANSWER))
    # verl builds vllm.SamplingParams(max_tokens=..., **params): every key is one of its fields.
    assert params == {
        "temperature": 0.7,
        "top_p": 1.0,
        "top_k": -1,
        "max_tokens": 16,
        "logprobs": True,
        "seed": 3,
        "structured_outputs": StructuredOutputsParams(json=COMPACT_ANSWER),
    }
    params = sent_params("vllm", tokenizer, OutputConstraint(lark=LARK))
    assert params["structured_outputs"] == StructuredOutputsParams(grammar=LARK)


def test_sglang_gets_json_schema_text_or_ebnf(cpu_server):
    tokenizer = cpu_server.engine.tokenizer
    params = sent_params("sglang", tokenizer, OutputConstraint(json_schema=ANSWER))
    assert json.loads(params["json_schema"]) == COMPACT_ANSWER and params["sampling_seed"] == 3
    assert "structured_outputs" not in params and "seed" not in params
    params = sent_params("sglang", tokenizer, OutputConstraint(lark=LARK))
    assert params["ebnf"] == LARK and "json_schema" not in params


def test_their_llguidance_backends_read_our_lark_as_the_debug_engine_does():
    # vLLM's guidance backend: llguidance.grammar_from("grammar", ...); SGLang's llguidance
    # backend: grammar_from("ebnf", ...); the debug engine: LLMatcher.grammar_from_lark.
    ours = llguidance.LLMatcher.grammar_from_lark(LARK)
    assert llguidance.grammar_from("grammar", LARK) == ours
    assert llguidance.grammar_from("ebnf", LARK) == ours


@pytest.mark.parametrize("flexible", [True, False])
def test_their_json_backends_write_the_debug_engines_compact_layout(cpu_server, flexible):
    # vLLM's guidance / SGLang's llguidance backend: grammar_from_json_schema(schema,
    # defaults={"whitespace_flexible": ...}) on the schema we send; the x-guidance it carries
    # decides the layout whatever the server's whitespace setting.
    import llguidance.hf

    tokenizer = cpu_server.engine.tokenizer
    grammar = llguidance.LLMatcher.grammar_from_json_schema(
        json.dumps(COMPACT_ANSWER), defaults={"whitespace_flexible": flexible}
    )
    ll_tokenizer = llguidance.hf.from_tokenizer(tokenizer)

    def accepts(text: str) -> bool:
        matcher = llguidance.LLMatcher(ll_tokenizer, grammar)
        ids = tokenizer.encode(text, add_special_tokens=False)
        return matcher.consume_tokens(ids) and not matcher.is_error()

    assert accepts('{"answer": 4, "mood": "happy"}')
    assert not accepts('{"answer":4,"mood":"happy"}')
    assert not accepts('{ "answer": 4, "mood": "happy"}')


def test_without_vllm_a_constrained_request_names_what_is_missing(cpu_server, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm fails, as on this machine
    with pytest.raises(EngineError, match="vllm importable"):
        sent_params("vllm", cpu_server.engine.tokenizer, OutputConstraint(json_schema=ANSWER))


def test_only_rollouts_with_a_mapping_declare_support(cpu_server):
    tokenizer = cpu_server.engine.tokenizer
    for rollout, supported in (
        ("vllm", True),
        ("sglang", True),
        (ROLLOUT_NAME, True),
        ("trtllm", False),
    ):
        engine = VerlServerEngine(None, tokenizer, 512, rollout)
        assert engine.supports_constraints is supported, rollout


@pytest.mark.parametrize(
    ("rollout_engine", "expected"),
    [
        ("vllm", {"vllm": {"structured_outputs_config": '{"backend": "guidance"}'}}),
        ("sglang", {"sglang": {"grammar_backend": "llguidance"}}),
    ],
)
def test_the_translation_sets_the_grammar_backend_the_mapping_needs(
    tmp_path, tiny_model_dir, rollout_engine, expected
):
    data = make_addition_data(tmp_path / "data")
    _, prepared = prepare(
        write_config(tmp_path, tiny_model_dir, data), f"backbone.rollout_engine={rollout_engine}"
    )
    rollout = prepared.verl_config.actor_rollout_ref.rollout
    engine_kwargs = OmegaConf.to_container(rollout.engine_kwargs)
    [(name, kwargs)] = expected.items()
    assert engine_kwargs[name] == kwargs
    # SGLang aborts grammar requests without its tokenizer, which verl skips by default.
    assert rollout.skip_tokenizer_init is (rollout_engine != "sglang")


@pytest.mark.parametrize(
    "structured_outputs", [{"regex": "a+"}, {"json": ANSWER, "grammar": LARK}, {}]
)
def test_the_cpu_server_refuses_structured_outputs_it_cannot_enforce(structured_outputs):
    from ajet_backbone_verl.cpu.server import output_constraint

    from ajet_core.engine import ConstraintError

    with pytest.raises(ConstraintError, match="exactly one of 'json'"):
        output_constraint(structured_outputs)
    assert output_constraint(None) is None
    assert output_constraint({"grammar": LARK}) == OutputConstraint(lark=LARK)
