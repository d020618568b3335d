"""The CPU rollout server: a Ray actor serving the policy with the debug backbone's engine.

verl talks to its rollout servers through a handful of actor methods (vLLM's and SGLang's
servers have the same ones): ``generate`` (token ids in; ids, logprobs and the server's training
step out), the weight and memory life-cycle calls around each weight sync, and abort/profile
calls. This server answers them with ``TransformersEngine`` (continuous batching on the CPU,
from ``ajet-backbone-debug``, imported when the actor starts so this module stays importable
without it). Memory calls have nothing to free on a CPU.

Structured output arrives as vLLM names it, ``structured_outputs={"json": schema}`` or
``{"grammar": lark}`` (a plain dict: no vLLM here), and becomes the request's
:class:`~ajet_core.engine.OutputConstraint`, which the debug engine enforces with llguidance.

Weights arrive from the training worker's adapter (:mod:`ajet_backbone_verl.cpu.replica`) after
every update; each load is appended to the run's engine log (``AJET_CPU_ENGINE_LOG``, set by the
backbone) so a run can be checked afterwards: which step's weights were served, and how many
tensors each sync carried.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import torch
from verl.workers.rollout.replica import TokenOutput

from ajet_core.engine import ConstraintError, OutputConstraint, SamplingParams

# Where the server appends its weight-sync events (JSON lines); unset: nowhere.
ENGINE_LOG_VARIABLE = "AJET_CPU_ENGINE_LOG"
# torch intra-op threads of the decode thread: one is fastest on a CPU shared with the trainer.
THREADS_VARIABLE = "AJET_CPU_ENGINE_THREADS"


def output_constraint(structured_outputs: Any) -> OutputConstraint | None:
    """The request's ``structured_outputs`` (vLLM's field names) as an OutputConstraint."""
    if structured_outputs is None:
        return None
    fields = dict(structured_outputs)
    unknown = sorted(set(fields) - {"json", "grammar"})
    if unknown or len(fields) != 1:
        raise ConstraintError(
            f"structured_outputs={fields!r}: the CPU rollout server takes exactly one of "
            "'json' (a JSON schema) or 'grammar' (llguidance Lark)"
        )
    return OutputConstraint(json_schema=fields.get("json"), lark=fields.get("grammar"))


def _setting(config: Any, key: str, default: Any = None) -> Any:
    """A key of verl's rollout/model config, whether it arrives as a dataclass or a DictConfig."""
    value = config.get(key, default) if hasattr(config, "get") else getattr(config, key, default)
    return default if value is None else value


class CpuRolloutServer:
    def __init__(self, config: Any, model_config: Any, replica_rank: int = 0) -> None:
        try:
            from ajet_backbone_debug.engine import TransformersEngine
        except ImportError as exc:
            raise ImportError(
                "backbone.rollout_engine=cpu serves the policy with ajet-backbone-debug's engine, "
                "which is not installed: pip install 'ajet-backbone-verl[cpu]'"
            ) from exc

        threads = int(os.environ.get(THREADS_VARIABLE, "1"))
        torch.set_num_threads(threads)
        self.response_length = int(_setting(config, "response_length", 512))
        max_len = _setting(config, "max_model_len") or (
            int(_setting(config, "prompt_length", 512)) + self.response_length
        )
        path = _setting(model_config, "local_path") or _setting(model_config, "path")
        self.engine = TransformersEngine.from_path(
            str(path),
            dtype="float32",  # CPU kernels: float32 is both the fastest and the exact one
            device="cpu",
            max_model_len=int(max_len),
            trust_remote_code=bool(_setting(model_config, "trust_remote_code", False)),
            seed=int(_setting(config, "seed", 0)) + replica_rank,
            num_threads=threads,
        )
        self.replica_rank = replica_rank
        self.global_steps: int | None = None
        self.log_path = os.environ.get(ENGINE_LOG_VARIABLE) or None

    def get_server_address(self) -> tuple[str, int]:
        import ray

        return ray.util.get_node_ip_address(), 0  # no HTTP endpoint: verl calls generate directly

    async def generate(
        self,
        prompt_ids: list[int],
        sampling_params: dict[str, Any],
        request_id: str,
        image_data: Any = None,
        video_data: Any = None,
        **_: Any,
    ) -> TokenOutput:
        if image_data is not None or video_data is not None:
            raise ValueError(
                "the CPU rollout engine serves text models only (got image/video data)"
            )
        params = dict(sampling_params)
        top_k = int(params.get("top_k") or -1)
        sampling = SamplingParams(
            temperature=float(params.get("temperature", 1.0)),
            top_p=float(params.get("top_p", 1.0)),
            top_k=top_k if top_k > 0 else -1,
            max_tokens=int(
                params.get("max_tokens") or params.get("max_new_tokens") or self.response_length
            ),
            stop=list(params.get("stop") or []),
            stop_token_ids=list(params.get("stop_token_ids") or []),
            seed=params.get("seed"),
            constraint=output_constraint(params.get("structured_outputs")),
        )
        generation = await self.engine.generate(list(prompt_ids), sampling)
        return TokenOutput(
            token_ids=list(generation.token_ids),
            log_probs=list(generation.logprobs)
            if params.get("logprobs") not in (None, False)
            else None,
            stop_reason="completed",
            extra_fields={"global_steps": self.global_steps},
        )

    def update_weights(
        self, state: dict[str, torch.Tensor], global_steps: int | None
    ) -> dict[str, Any]:
        """Load the trainer's full weights (between decode steps); refuse a partial set."""
        missing = self.engine.missing_weights(state)
        if missing:
            raise ValueError(
                f"weight sync at step {global_steps} lacks {len(missing)} of the served model's "
                f"tensors (first: {missing[:3]}); the trainer's model differs from the served one"
            )
        expected = set(self.engine.model.state_dict())
        self.engine.update_weights({k: v for k, v in state.items() if k in expected})
        self.global_steps = global_steps
        event = {
            "event": "weights",
            "global_steps": global_steps,
            "tensors": len(state),
            "time": time.time(),
        }
        if self.log_path:
            with Path(self.log_path).open("a") as log:
                log.write(json.dumps(event) + "\n")
        return event

    async def set_global_steps(self, global_steps: int) -> None:
        self.global_steps = global_steps

    # The life-cycle verl drives around weight syncs: nothing to release or restore on a CPU.
    async def wake_up(self, tags: list[str] | None = None) -> None:
        return None

    async def sleep(self) -> None:
        return None

    async def clear_kv_cache(self) -> None:
        return None  # the engine keeps no cache between requests

    async def release_kv_cache(self) -> None:
        return None

    async def resume_kv_cache(self) -> None:
        return None

    async def wait_for_requests_to_drain(self) -> None:
        return None

    async def abort_all_requests(
        self, reset_prefix_cache: bool = True, reject_request: bool = False
    ) -> dict[str, Any]:
        # verl's synchronous trainer syncs weights between steps, when nothing is in flight.
        return {"aborted_count": 0, "request_ids": []}

    async def resume_generation(self) -> None:
        return None

    async def abort_request(
        self, request_id: str, reset_prefix_cache: bool = True
    ) -> dict[str, Any]:
        return {"aborted": False, "request_id": request_id}

    async def start_profile(self, **_: Any) -> None:
        return None

    async def stop_profile(self) -> None:
        return None
