"""The verl environment as the set-up builds it, and the backbone's diagnosis of it."""

from __future__ import annotations

import importlib.metadata as metadata
import importlib.util
import json

from packaging.requirements import Requirement
from packaging.version import Version

from ajet_backbone_verl import environment
from ajet_core.testing.environment import run_python, shadow_distribution


def test_torch_is_the_pinned_cpu_build():
    assert Version(metadata.version("torch")).base_version == "2.13.0"


def test_transformers_satisfies_verls_pin():
    # verl 0.9 declares transformers<5.11: the reason verl has an environment of its own.
    assert Version(metadata.version("transformers")) < Version("5.11")


def test_verl_trainer_imports_with_the_verl_core_extra():
    # verl's trainer imports hydra, ray and tensordict, which only its verl-core extra installs.
    result = run_python(
        "import verl.trainer.main_ppo, verl.trainer.ppo.ray_trainer, verl.experimental.agent_loop\n"
        "import verl; print(verl.__version__)"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == metadata.version("verl")


def test_check_reports_the_installed_stack():
    report = environment.check()
    assert report.ok, report.format()
    assert report.problems == []
    for name in ("verl", "transformers", "torch", "ray", "tensordict"):
        assert report.versions[name] == metadata.version(name)
    vllm_installed = importlib.util.find_spec("vllm") is not None
    assert (report.versions["vllm"] is not None) == vllm_installed
    if not vllm_installed:
        assert any("no rollout engine (vLLM or SGLang)" in w for w in report.warnings)
    assert report.gpu is None  # not probed unless asked
    text = report.format()
    assert text.startswith("verl backbone environment: ok")
    assert f"verl          {metadata.version('verl')}" in text
    assert json.loads(json.dumps(report.to_json()))["versions"]["verl"] == metadata.version("verl")


def test_check_with_gpu_probe_matches_torch():
    import torch

    report = environment.check(gpu=True)
    assert report.gpu is torch.cuda.is_available()
    assert ("no CUDA GPU visible to torch: verl training needs one" in report.warnings) is (
        not report.gpu
    )


CHECK_PROBLEMS = (
    "import json\n"
    "from ajet_backbone_verl.environment import check\n"
    "report = check()\n"
    "print(json.dumps({'ok': report.ok, 'problems': report.problems}))\n"
)


def test_check_names_a_transformers_release_verl_rejects(tmp_path):
    # trinity-rft's transformers (5.12+) in this environment: verl's own pin is violated.
    pin = next(
        Requirement(text)
        for text in metadata.requires("verl") or []
        if Requirement(text).name == "transformers" and Requirement(text).marker is None
    )
    result = run_python(CHECK_PROBLEMS, shadow_distribution(tmp_path, "transformers", "5.24.0"))
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["ok"] is False
    assert (
        f"verl requires transformers{pin.specifier}, but transformers 5.24.0 is installed"
        in outcome["problems"]
    )


def test_check_names_an_unsupported_verl_release(tmp_path):
    result = run_python(CHECK_PROBLEMS, shadow_distribution(tmp_path, "verl", "0.8.0"))
    outcome = json.loads(result.stdout)
    assert outcome["ok"] is False
    assert outcome["problems"][0].startswith(
        "verl 0.8.0 is installed but this backbone needs verl>=0.9,<0.10; pip install"
    )


def test_the_readme_installs_the_vllm_stack_verl_pins():
    # verl 0.9.1's `vllm` extra pins the rollout stack it was released with; a bare
    # `pip install vllm` would take whatever vLLM (and torch) is newest.
    from pathlib import Path

    pins = {}
    for text in metadata.requires("verl") or []:
        requirement = Requirement(text)
        if requirement.marker is not None and requirement.marker.evaluate({"extra": "vllm"}):
            pins[requirement.name] = str(requirement.specifier).removeprefix("==")
    readme = (Path(__file__).parents[2] / "ajet_backbone_verl" / "README.md").read_text()
    assert f"'verl[vllm]=={metadata.version('verl')}'" in readme
    for name, label in (("vllm", "vLLM"), ("torch", "torch"), ("transformers", "transformers")):
        assert f"{label} {pins[name]}" in readme
    commands = [line for line in readme.splitlines() if line.startswith("pip install")]
    assert commands and all(not line.rstrip().endswith(" vllm") for line in commands)
