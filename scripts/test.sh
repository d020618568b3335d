#!/usr/bin/env bash
# The project's test command (`make test`): set up the three environments where missing or stale,
# install the browser for browser tests, make the test models (scripts/setup_models.sh), then run
# each environment's tests in that environment.
#
#   main     every test path of the root pyproject (tests/, package tests) except the verl and
#            trinity ones
#   verl     tests/ajet_backbone_verl (and ajet_backbone_verl/tests when present)
#   trinity  tests/ajet_backbone_trinity (and ajet_backbone_trinity/tests when present)
#   lint     the lint gate (scripts/lint.sh: ruff check + ruff format --check with the main
#            environment's ruff); it runs whenever main does, and `test.sh lint` runs it alone
#
# Usage: scripts/test.sh [main|verl|trinity|lint ...] [-- PYTEST_ARGS...]   (default: all three)
#
# Exit status: 0 when every selected environment passed, 1 when any test failed or an environment
# could not be set up, or the lint gate found something (the tests still run, so one run shows
# everything). pytest's exit 5 ("no tests collected") counts as a pass for that environment and
# is reported as such. One summary line per environment, a lint line, then a total line.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENVS_DIR=${AJET_VENVS_DIR:-$ROOT/.venvs}
ARTIFACTS=$ROOT/test-artifacts
cd "$ROOT"

envs=()
pytest_extra=()
run_lint=0
while [[ $# -gt 0 ]]; do
    case $1 in
        --) shift; pytest_extra=("$@"); break ;;
        main|verl|trinity) envs+=("$1"); shift ;;
        all) envs+=(main verl trinity); shift ;;
        lint) run_lint=1; shift ;;
        *) echo "test.sh: unknown argument '$1'; usage: test.sh [main|verl|trinity|lint ...] [-- PYTEST_ARGS]" >&2; exit 2 ;;
    esac
done
[[ ${#envs[@]} -gt 0 || $run_lint -eq 1 ]] || envs=(main verl trinity)
# The lint gate uses the main environment's ruff, so it goes with main.
[[ " ${envs[*]} " == *" main "* ]] && run_lint=1

pytest_targets() {
    case $1 in
        # No path: the root pyproject's testpaths, minus what needs the backbone environments.
        main) echo --ignore=tests/ajet_backbone_verl --ignore=tests/ajet_backbone_trinity \
                   --ignore=ajet_backbone_verl --ignore=ajet_backbone_trinity ;;
        verl|trinity)
            echo "tests/ajet_backbone_$1"
            [[ -d ajet_backbone_$1/tests ]] && echo "ajet_backbone_$1/tests"
            ;;
    esac
}

declare -A summary=()
overall=0
mkdir -p "$ARTIFACTS"
phase_start=$SECONDS

# --- 1. environments ------------------------------------------------------------------------
for env in "${envs[@]}"; do
    start=$SECONDS
    if "$ROOT/scripts/setup_env.sh" "$env"; then
        echo "[test] environment $env ready ($((SECONDS - start)) s)"
    else
        summary[$env]="environment setup FAILED (scripts/setup_env.sh $env)"
        overall=1
    fi
done
setup_seconds=$((SECONDS - phase_start))

# --- 2. the browser for browser tests (never fails the run; those tests skip without it) ------
start=$SECONDS
[[ ${#envs[@]} -eq 0 ]] || "$ROOT/scripts/install_browser.sh"
# bubblewrap for the Python sandbox (its escape tests skip without it)
[[ ${#envs[@]} -eq 0 ]] || "$ROOT/scripts/install_sandbox.sh"
browser_seconds=$((SECONDS - start))

# --- the test models (tiny model, SmolLM2), made once into the shared cache before any test ---
# In main where it is selected (it alone has SmolLM2's package), else the first env set up.
# A failure fails the run; the tests that need a model then fail naming the command.
start=$SECONDS
models_env=""
for env in "${envs[@]}"; do [[ -z $models_env && -z ${summary[$env]:-} ]] && models_env=$env; done
[[ " ${envs[*]} " == *" main "* && -z ${summary[main]:-} ]] && models_env=main
if [[ -n $models_env ]]; then "$ROOT/scripts/setup_models.sh" "$models_env" || overall=1; fi
models_seconds=$((SECONDS - start))

# --- the lint gate: a failure fails the run, but the tests below still run ---------------------
lint_line=""
if [[ $run_lint -eq 1 ]]; then
    echo
    echo "================ [test] lint: scripts/lint.sh ================"
    "$ROOT/scripts/lint.sh" 2>&1 | tee "$ARTIFACTS/lint.txt"
    [[ ${PIPESTATUS[0]} -eq 0 ]] || overall=1
    lint_line=$(tail -n 1 "$ARTIFACTS/lint.txt")
fi

# --- 3. tests, environment by environment ---------------------------------------------------
for env in "${envs[@]}"; do
    [[ -n ${summary[$env]:-} ]] && continue  # its setup failed
    targets=()
    read -r -a targets <<< "$(pytest_targets "$env" | tr '\n' ' ')"
    junit=$ARTIFACTS/junit-$env.xml
    rm -f "$junit"
    echo
    echo "================ [test] $env environment: pytest ${targets[*]} ${pytest_extra[*]:-} ================"
    start=$SECONDS
    AJET_TEST_ENV=$env "$VENVS_DIR/$env/bin/python" -m pytest "${targets[@]}" \
        --junitxml="$junit" "${pytest_extra[@]}"
    code=$?
    seconds=$((SECONDS - start))
    counts=$(python3 "$ROOT/scripts/junit_counts.py" "$junit")
    case $code in
        0) summary[$env]="$counts in $seconds s (pytest exit 0)" ;;
        5) summary[$env]="no tests collected in $seconds s (pytest exit 5, counted as a pass)" ;;
        *) summary[$env]="$counts in $seconds s (pytest exit $code: FAILED)"; overall=1 ;;
    esac
done

echo
echo "================ [test] summary ================"
echo "phases: environments ${setup_seconds} s, browser ${browser_seconds} s, models ${models_seconds} s, tests $((SECONDS - phase_start - setup_seconds - browser_seconds - models_seconds)) s"
for env in "${envs[@]}"; do
    printf '%s: %s\n' "$env" "${summary[$env]}"
done
if [[ -n $lint_line ]]; then echo "$lint_line"; fi
# The last line is the plain closing line CI reads: "total: N passed, N failed, N skipped".
junit_files=()
for env in "${envs[@]}"; do junit_files+=("$ARTIFACTS/junit-$env.xml"); done
# (`test.sh lint` alone runs no tests: its lint line closes the summary.)
[[ ${#envs[@]} -eq 0 ]] || python3 "$ROOT/scripts/junit_counts.py" --total "${junit_files[@]}"
exit $overall
