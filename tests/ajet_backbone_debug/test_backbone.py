"""DebugBackbone builds its engine from the run config."""

from __future__ import annotations

import pytest
from ajet_backbone_debug.backbone import DebugBackbone, DebugBackboneConfig
from ajet_backbone_debug.engine import TransformersEngine

from ajet_core.config.models import AjetConfig
from ajet_core.engine import SamplingParams
from ajet_core.errors import ConfigError


def make_config(**model):
    return AjetConfig.model_validate({"model": model})


async def test_build_engine_serves_model_path_with_config_limits(tiny_model_dir):
    backbone = DebugBackbone(
        make_config(path=str(tiny_model_dir), max_model_len=256, dtype="float32", device="cpu"),
        DebugBackboneConfig(max_batch_size=4),
    )
    engine = backbone.build_engine()
    try:
        assert isinstance(engine, TransformersEngine)
        assert engine.max_model_len == 256 and engine.max_batch_size == 4
        assert (
            str(engine.device) == "cpu" and next(engine.model.parameters()).dtype.is_floating_point
        )
        ids = engine.tokenizer.apply_chat_template(
            [{"role": "user", "content": "Hello!"}], add_generation_prompt=True, return_dict=False
        )
        gen = await engine.generate(ids, SamplingParams(temperature=0, max_tokens=16))
        assert gen.finish_reason == "stop" and len(gen.logprobs) == len(gen.token_ids) > 1
    finally:
        engine.close()


def test_missing_or_wrong_model_path_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="model.path is not set"):
        DebugBackbone(make_config()).build_engine()
    with pytest.raises(ConfigError, match="does not exist"):
        DebugBackbone(make_config(path=str(tmp_path / "nope"))).build_engine()
    with pytest.raises(ConfigError, match="without config.json"):
        DebugBackbone(make_config(path=str(tmp_path))).build_engine()


def test_backbone_options_are_validated():
    with pytest.raises(ValueError):
        DebugBackboneConfig(max_batch_size=0)
    with pytest.raises(ValueError):
        DebugBackboneConfig(engine_threads=0)
    with pytest.raises(ValueError):
        DebugBackboneConfig(unknown=1)


def test_yaml_no_switches_mixed_precision_off():
    from ajet_core.config.loader import load_config
    from ajet_core.config.plugin_sections import validate_plugin_sections
    from ajet_core.plugins.manager import get_plugin_manager

    # YAML 1.1 reads a bare `no` as false; the option still means "no mixed precision".
    loaded = load_config(None, ["backbone.name=debug", "backbone.mixed_precision=no"])
    resolved = validate_plugin_sections(loaded.config, get_plugin_manager(), sections=("backbone",))
    assert resolved["backbone"].options.mixed_precision == "no"
    with pytest.raises(ConfigError, match="mixed_precision"):
        load = load_config(None, ["backbone.name=debug", "backbone.mixed_precision=fp8"])
        validate_plugin_sections(load.config, get_plugin_manager(), sections=("backbone",))
