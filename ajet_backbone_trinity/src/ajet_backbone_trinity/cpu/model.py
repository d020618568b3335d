"""The rollout actor of a CPU-engine run: trinity's ``BaseInferenceModel`` served by the debug
backbone's ``TransformersEngine`` (continuous batching on the CPU).

Trinity's explorer drives a rollout actor through a few methods (``vLLMRolloutModel`` has the
same): ``prepare``; ``generate`` from text or ``{"prompt_token_ids": [...]}``, returning one
``Experience`` per sample with the sampled tokens' logprobs (``log_softmax(logits / T)``, as vLLM's
processed logprobs); ``chat``; ``logprobs``; ``get_message_token_len``; and, after every trainer
step the synchronizer announces, ``sync_model_weights``. Everything else (prompt truncation, chat
templates, the ``ModelWrapper`` around the actor, the placement group it runs in) is trinity's.

Weights arrive as the files trinity's trainer writes for a checkpoint sync
(``<checkpoint job dir>/global_step_N/actor``, read with trinity's own ``load_state_dict``) or,
for a memory sync, from the synchronizer's state dict. Each load and each generation's weight
version is appended to the run's engine log (``AJET_TRINITY_CPU_ENGINE_LOG``), so a run can be
checked afterwards: which versions were loaded, and which one each rollout sampled from.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import torch
from trinity.common.constants import SyncMethod
from trinity.common.experience import Experience
from trinity.common.models.model import BaseInferenceModel

from ajet_backbone_trinity.cpu.settings import ENGINE_LOG_VARIABLE, THREADS_VARIABLE
from ajet_core.engine import SamplingParams


class WeightSyncError(RuntimeError):
    """A weight version could not be loaded into the CPU engine."""


class CpuRolloutModel(BaseInferenceModel):
    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.engine: Any = None
        self.model_version = 0
        self.log_path = os.environ.get(ENGINE_LOG_VARIABLE) or None

    # -- life-cycle -----------------------------------------------------------------------------

    async def prepare(self) -> None:
        if self._prepared:
            return
        try:
            from ajet_backbone_debug.engine import TransformersEngine
        except ImportError as exc:
            raise ImportError(
                "backbone.rollout_engine=cpu serves the policy with ajet-backbone-debug's engine, "
                "which is not installed here: pip install 'ajet-backbone-trinity[cpu]'"
            ) from exc
        threads = int(os.environ.get(THREADS_VARIABLE, "1"))
        config = self.config
        self.engine = await asyncio.to_thread(
            TransformersEngine.from_path,
            str(config.model_path),
            dtype="float32",  # CPU kernels: float32 is both the fastest and the exact one
            device="cpu",
            max_model_len=int(config.max_model_len),
            trust_remote_code=bool(config.trust_remote_code),
            seed=int(config.seed or 0) + int(config.engine_id or 0),
            num_threads=threads,
        )
        self.tokenizer = self.engine.tokenizer
        self.tokenizer.truncation_side = "left"
        self._prepared = True
        self._log({"event": "prepared", "model_path": str(config.model_path)})

    async def shutdown(self) -> None:
        if self.engine is not None:
            self.engine.close()

    def get_model_version(self) -> int:
        return self.model_version

    def get_lora_request(self, lora_path: str | None = None) -> Any:
        return None  # the CPU engine serves full weights only (LoRA is refused at translation)

    # -- weights --------------------------------------------------------------------------------

    async def sync_model_weights(
        self, model_version: int, method: Any, timeout: float = 1200
    ) -> int:
        await self.prepare()
        # trinity's SyncMethod looks members up by lower-cased name, so a member passed in must
        # not go through SyncMethod(...) again.
        method = method if isinstance(method, SyncMethod) else SyncMethod(method)
        if method == SyncMethod.CHECKPOINT:
            state = await asyncio.to_thread(self._read_checkpoint, model_version)
        elif method == SyncMethod.MEMORY:
            state = await self._read_synchronizer()
        else:
            raise WeightSyncError(
                f"the CPU rollout engine cannot receive weights by {method.value!r}; "
                "synchronizer.sync_method must be 'checkpoint' or 'memory'"
            )
        missing = self.engine.missing_weights(state)
        if missing:
            raise WeightSyncError(
                f"weight version {model_version} lacks {len(missing)} of the served model's "
                f"tensors (first: {missing[:3]}); the trainer's model differs from the served one"
            )
        await asyncio.to_thread(self.engine.update_weights, state)
        self.model_version = model_version
        self._log(
            {
                "event": "weights",
                "version": model_version,
                "method": method.value,
                "tensors": len(state),
            }
        )
        return model_version

    def _read_checkpoint(self, model_version: int) -> dict[str, torch.Tensor]:
        from trinity.common.models.utils import load_state_dict

        folder = (
            Path(str(self.config.checkpoint_job_dir)) / f"global_step_{model_version}" / "actor"
        )
        state = load_state_dict(str(folder), trust_remote_code=bool(self.config.trust_remote_code))
        if isinstance(state, dict):
            return state
        kind, where = state
        if kind != "huggingface":
            raise WeightSyncError(
                f"weight version {model_version} at {folder} is a {kind} checkpoint; the CPU "
                "engine reads safetensors, Hugging Face or FSDP checkpoints"
            )
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(where, dtype=torch.float32)
        return model.state_dict()

    async def _read_synchronizer(self) -> dict[str, torch.Tensor]:
        from trinity.manager.synchronizer import Synchronizer

        synchronizer = Synchronizer.get_actor(namespace=self.config.ray_namespace)
        state = {}
        async for reference in synchronizer.get_model_state_dict_iterator.remote():
            name, tensor = await reference
            state[name] = tensor
        return state

    # -- inference ------------------------------------------------------------------------------

    def _prompt_ids(self, prompt: Any, **kwargs: Any) -> tuple[list[int] | None, list | None]:
        """The prompt's token ids, or trinity's masked-out experiences for a truncated one."""
        if isinstance(prompt, dict):
            if prompt.get("multi_modal_data"):
                raise ValueError("the CPU rollout engine serves text models only")
            if "prompt_token_ids" in prompt:
                return list(prompt["prompt_token_ids"]), None
            prompt = prompt["prompt"]
        result, ok = self._handle_prompt_truncation(prompt, **kwargs)
        return (list(result), None) if ok else (None, list(result))

    @staticmethod
    def _sampling(kwargs: dict[str, Any], config: Any) -> SamplingParams:
        """vLLM's sampling keywords, as trinity's workflows and our gateway send them."""
        temperature = kwargs.get("temperature", config.temperature)
        top_k = kwargs.get("top_k", config.top_k)
        return SamplingParams(
            temperature=1.0 if temperature is None else float(temperature),
            top_p=float(kwargs.get("top_p", config.top_p) or 1.0),
            top_k=int(top_k) if top_k and int(top_k) > 0 else -1,
            max_tokens=int(kwargs.get("max_tokens") or config.max_response_tokens or 64),
            stop=list(kwargs.get("stop") or []),
            stop_token_ids=list(kwargs.get("stop_token_ids") or []),
            seed=kwargs.get("seed"),
        )

    async def generate(self, prompt: Any, lora_request: Any = None, **kwargs: Any) -> list:
        await self.prepare()
        if kwargs.get("structured_outputs") is not None:
            raise ValueError(
                "structured output needs vLLM's guided decoding; the CPU rollout engine under "
                "trinity does not take it (the debug and verl backbones' CPU engines do)"
            )
        prompt_ids, truncated = self._prompt_ids(prompt, **kwargs)
        if truncated is not None:
            return truncated
        sampling = self._sampling(kwargs, self.config)
        room = self.engine.max_model_len - len(prompt_ids)
        if room <= 0:
            raise ValueError(
                f"a {len(prompt_ids)}-token prompt leaves no room under max_model_len "
                f"{self.engine.max_model_len}"
            )
        if sampling.max_tokens > room:
            sampling = dataclasses.replace(sampling, max_tokens=room)
        version = self.model_version
        generations = await asyncio.gather(
            *(self.engine.generate(prompt_ids, sampling) for _ in range(int(kwargs.get("n", 1))))
        )
        self._log({"event": "generate", "version": version, "samples": len(generations)})
        prompt_text = self.tokenizer.decode(prompt_ids)
        return [
            Experience(
                tokens=torch.tensor(prompt_ids + list(g.token_ids), dtype=torch.int32),
                logprobs=torch.tensor(list(g.logprobs), dtype=torch.float32),
                prompt_length=len(prompt_ids),
                prompt_text=prompt_text,
                response_text=self.tokenizer.decode(g.token_ids, skip_special_tokens=True),
            )
            for g in generations
        ]

    async def chat(self, messages: list[dict], lora_request: Any = None, **kwargs: Any) -> list:
        await self.prepare()
        prompt = self.apply_chat_template(self.tokenizer, messages)
        return await self.generate(prompt, lora_request, **kwargs)

    async def logprobs(
        self, token_ids: list[int], lora_request: Any = None, temperature: float | None = None
    ) -> torch.Tensor:
        """Each token's logprob given the ones before it (the first token has none)."""
        await self.prepare()
        scale = temperature if temperature is not None else (self.config.temperature or 1.0)

        def score() -> torch.Tensor:
            with self.engine.paused() as model, torch.no_grad():
                ids = torch.tensor([token_ids], dtype=torch.long)
                logits = model(input_ids=ids).logits[0, :-1].float() / scale
                return torch.log_softmax(logits, dim=-1).gather(-1, ids[0, 1:, None]).squeeze(-1)

        return await asyncio.to_thread(score)

    async def get_message_token_len(self, messages: list[dict]) -> int:
        await self.prepare()
        prompt = self.apply_chat_template(self.tokenizer, messages)
        return len(self.tokenizer(prompt, truncation=False)["input_ids"])

    # -- evidence -------------------------------------------------------------------------------

    def _log(self, event: dict[str, Any]) -> None:
        if self.log_path:
            line = {"time": time.time(), "actor": self.ray_actor_name, **event}
            with open(self.log_path, "a") as log:
                log.write(json.dumps(line) + "\n")
