"""What stands in for the parts of trinity's rollout stack that cannot run on a CPU.

Only two boundaries are replaced, and nothing behind them:

* the ``vllm`` import: trinity's model-wrapper module imports vLLM's multimodal helpers at module
  level, and vLLM on PyPI is CUDA-only. :func:`vllm_import_stand_in` puts placeholder modules
  with those names in ``sys.modules`` while trinity's modules import (any use of them raises);
* the vLLM engine inside trinity's rollout actor: :func:`make_rollout_model_class` subclasses
  trinity's own ``vLLMRolloutModel`` and replaces only its calls into vLLM, served by the tiny
  model through the debug backbone's TransformersEngine (the model really generates); trinity's
  multimodal render gets :class:`RecordedModelConfig` for vLLM's ``ModelConfig``; and
  :class:`InProcessActor` gives the model the ``.method.remote(...)`` shape of a Ray actor handle.

Trinity's own ``ModelWrapper`` then wraps it unchanged, exactly as trinity's workflow runner does.
"""

from __future__ import annotations

import contextlib
import inspect
import types
from collections.abc import Iterator
from typing import Any

from ajet_backbone_trinity.cpu.imports import vllm_names, vllm_stand_in


@contextlib.contextmanager
def vllm_import_stand_in() -> Iterator[None]:
    """Let trinity's model-wrapper modules import without vLLM, for the imports inside the block:
    the CPU engine's own stand-in (ajet_backbone_trinity.cpu.imports), with
    :class:`RecordedModelConfig` for vLLM's ``ModelConfig`` so tests can read what trinity's
    multimodal render asked for. The names leave ``sys.modules`` afterwards, so the rest of the
    session sees the environment as it is."""
    with vllm_stand_in(vllm_names(model_config=RecordedModelConfig)):
        yield


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


class RecordedModelConfig:
    """Stands in for ``vllm.config.ModelConfig`` where trinity's multimodal render builds one: keeps
    the arguments (tests read ``trust_remote_code``) and the model path, loads nothing."""

    built: list[dict[str, Any]] = []

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)
        RecordedModelConfig.built.append(kwargs)


def make_rollout_model_class():
    """trinity's own ``vLLMRolloutModel`` with the vLLM engine call replaced by the tiny model.

    ``generate`` (both its text and its multimodal branch), tokenizer handling and the Experience
    it builds are trinity's code; replaced are only what talks to vLLM: the engine's set-up
    (``__init__``), its tokenizer (``_initialize_tokenizer``: the model's own tokenizer, as vLLM
    hands it over) and the request (``_generate_internal``: token ids in, a vLLM-shaped
    ``RequestOutput`` out, sampled by TransformersEngine).
    """
    import copy

    from trinity.common.models.model import BaseInferenceModel

    from ajet_core.engine import SamplingParams

    with vllm_import_stand_in():
        from trinity.common.models import vllm_model

    class TransformersRolloutModel(vllm_model.vLLMRolloutModel):
        def __init__(self, config: Any, engine: Any) -> None:
            BaseInferenceModel.__init__(self, config)  # vLLM's engine set-up is skipped
            self.engine = engine
            self.requests: list[dict[str, Any]] = []
            self.request_id = 0
            self.mm_render = None
            self.processor = None
            self.async_llm = None
            self.logprobs_no_prefix_cache = True
            self.tokenization_kwargs = {"truncate_prompt_tokens": None}
            # The weights version trinity stamps on experiences (advanced by tests that play the
            # trainer's weight syncs).
            self.model_version = 0

        async def _initialize_tokenizer(self) -> None:
            if self.tokenizer is None:
                self.tokenizer = copy.deepcopy(self.engine.tokenizer)
            self.tokenizer.truncation_side = "left"

        async def _generate_internal(self, prompt: Any, lora_request: Any = None, **kwargs: Any):
            # vLLM's AsyncLLM.generate as trinity calls it: token ids in (both branches send
            # them), one RequestOutput with `n` completions out, logprobs of the sampled tokens.
            prompt_ids = list(prompt["prompt_token_ids"])
            request = {"prompt": prompt, "prompt_token_ids": prompt_ids, **kwargs}
            request["generations"] = []
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
            outputs = []
            for _ in range(kwargs.get("n", 1)):
                generation = await self.engine.generate(prompt_ids, sampling)
                request["generations"].append(generation)
                outputs.append(
                    types.SimpleNamespace(
                        token_ids=list(generation.token_ids),
                        logprobs=[
                            {token: types.SimpleNamespace(logprob=logprob)}
                            for token, logprob in zip(generation.token_ids, generation.logprobs)
                        ],
                        text=self.engine.tokenizer.decode(
                            generation.token_ids, skip_special_tokens=True
                        ),
                    )
                )
            return types.SimpleNamespace(prompt_token_ids=prompt_ids, outputs=outputs)

        async def sync_model_weights(
            self, model_version: int, method: Any, timeout: float = 1200
        ) -> int:
            self.model_version = model_version
            return model_version

    return TransformersRolloutModel
