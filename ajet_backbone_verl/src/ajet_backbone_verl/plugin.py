"""Entry point of ajet-backbone-verl: registrations only, no heavy imports."""

from __future__ import annotations

from ajet_core.hookspecs import hookimpl


@hookimpl
def ajet_register_backbones(registry):
    registry.add(
        "verl",
        "ajet_backbone_verl.backbone:VerlBackbone",
        description="verl on Ray: FSDP/Megatron training, vLLM/SGLang rollout",
        requires=["verl>=0.9,<0.10"],
        install_hint="pip install 'ajet[verl]' (verl 0.9.x; needs transformers<5.11)",
    )
