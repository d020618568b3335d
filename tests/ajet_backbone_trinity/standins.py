"""What stands in for the parts of trinity's rollout stack that cannot run on a CPU.

Only two boundaries are replaced, and nothing behind them:

* the ``vllm`` import: trinity's model-wrapper module imports vLLM's multimodal helpers at module
  level, and vLLM on PyPI is CUDA-only. :func:`vllm_import_stand_in` puts placeholder modules
  with those names in ``sys.modules`` while trinity's modules import (any use of them raises);
* the Ray actor that runs vLLM: :class:`TransformersRolloutModel` is a real subclass of trinity's
  ``InferenceModel`` whose ``generate`` has vLLM's token-prompt contract, served by the tiny model
  through the debug backbone's TransformersEngine (the model really generates), and
  :class:`InProcessActor` gives it the ``.method.remote(...)`` shape of a Ray actor handle.

Trinity's own ``ModelWrapper`` then wraps it unchanged, exactly as trinity's workflow runner does.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import sys
import types
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def vllm_import_stand_in() -> Iterator[None]:
    """Let trinity's model-wrapper modules import without vLLM, for the imports inside the block.

    The placeholders leave ``sys.modules`` afterwards, so the rest of the session (e.g. the test
    that checks where the real vLLM boundary lies) sees the environment as it is. Where vLLM is
    installed this does nothing.
    """
    if importlib.util.find_spec("vllm") is not None:
        yield
        return

    class Unavailable:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError("vLLM is not installed: this CPU test stands in for its import only")

    names = {
        "vllm": {},
        "vllm.config": {"ModelConfig": Unavailable},
        "vllm.entrypoints": {},
        "vllm.entrypoints.chat_utils": {
            "ChatTemplateContentFormat": str,
            "ConversationMessage": dict,
            "parse_chat_messages": Unavailable,
            "parse_chat_messages_async": Unavailable,
        },
        "vllm.inputs": {"MultiModalDataDict": dict},
    }
    for name, attributes in names.items():
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        sys.modules[name] = module
    try:
        yield
    finally:
        for name in names:
            sys.modules.pop(name, None)


class InProcessActor:
    """``handle.method.remote(*args)`` -> an awaitable, as a Ray actor handle gives in an actor."""

    def __init__(self, target: Any) -> None:
        self._target = target

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._target, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result

        return types.SimpleNamespace(remote=call)


def make_rollout_model_class():
    """trinity's ``InferenceModel`` with vLLM's ``generate`` contract, over TransformersEngine."""
    import torch
    from trinity.common.experience import Experience
    from trinity.common.models.model import InferenceModel

    from ajet_core.engine import SamplingParams

    class TransformersRolloutModel(InferenceModel):
        def __init__(self, config: Any, engine: Any) -> None:
            super().__init__(config)
            self.engine = engine
            self.requests: list[dict[str, Any]] = []
            self.tokenizer_ready = False
            # The weights version trinity stamps on experiences (advanced by tests that play the
            # trainer's weight syncs).
            self.model_version = 0

        async def get_message_token_len(self, messages: list[dict]) -> int:
            # As trinity's vLLM model: loads its tokenizer on first use.
            self.tokenizer_ready = True
            return len(
                self.engine.tokenizer.apply_chat_template(
                    messages, tokenize=True, return_dict=False
                )
            )

        async def generate(
            self, prompt: Any, lora_request: Any = None, **kwargs: Any
        ) -> list[Experience]:
            # vLLM's contract as trinity's vLLMRolloutModel uses it: a token prompt in, one
            # Experience per sample out, logprobs for the sampled tokens only. Like trinity's
            # model, a token prompt does not load the tokenizer its result needs (it would fail
            # decoding): something must have loaded it before.
            if not self.tokenizer_ready:
                raise AttributeError(
                    "'NoneType' object has no attribute 'decode' (tokenizer never initialised)"
                )
            prompt_ids = list(prompt["prompt_token_ids"])
            request = {"prompt_token_ids": prompt_ids, **kwargs, "generations": []}
            self.requests.append(request)
            sampling = SamplingParams(
                temperature=kwargs["temperature"],
                top_p=kwargs["top_p"],
                top_k=kwargs["top_k"],
                max_tokens=kwargs["max_tokens"],
                stop=list(kwargs.get("stop") or []),
                stop_token_ids=list(kwargs.get("stop_token_ids") or []),
                seed=kwargs.get("seed"),
            )
            experiences = []
            for _ in range(kwargs.get("n", 1)):
                generation = await self.engine.generate(prompt_ids, sampling)
                request["generations"].append(generation)
                experiences.append(
                    Experience(
                        tokens=torch.tensor(prompt_ids + generation.token_ids, dtype=torch.int32),
                        logprobs=torch.tensor(generation.logprobs, dtype=torch.float32),
                        prompt_length=len(prompt_ids),
                        response_text=self.engine.tokenizer.decode(
                            generation.token_ids, skip_special_tokens=True
                        ),
                    )
                )
            return experiences

        async def sync_model_weights(
            self, model_version: int, method: Any, timeout: float = 1200
        ) -> int:
            return model_version

        def get_model_version(self) -> int:
            return self.model_version

    return TransformersRolloutModel
