#!/usr/bin/env bash
# The project's test command (`make test`): set up the four environments where missing or stale
# (main first, then the others beside the Debian packages for browser and sandbox tests and the
# test models, scripts/setup_models.sh), then run each environment's tests in that environment,
# the environments side by side and each on AJET_TEST_WORKERS pytest-xdist workers
# (default 2; 1 runs each environment in one process). Background jobs' logs are printed whole
# when they end, and kept in test-artifacts/.
#
#   main     every test path of the root pyproject (tests/, package tests) except the verl and
#            trinity ones
#   verl     tests/ajet_backbone_verl (and ajet_backbone_verl/tests when present)
#   trinity  tests/ajet_backbone_trinity (and ajet_backbone_trinity/tests when present)
#   frameworks  tests/frameworks (agent frameworks whose pins conflict with main's: AutoGen,
#            LlamaIndex)
#   lint     the lint gate (scripts/lint.sh: ruff check + ruff format --check with the main
#            environment's ruff); it runs whenever main does, and `test.sh lint` runs it alone
#
# Usage: scripts/test.sh [main|verl|trinity|frameworks|lint ...] [-- PYTEST_ARGS...]
#        (default: all four)
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
        main|verl|trinity|frameworks) envs+=("$1"); shift ;;
        all) envs+=(main verl trinity frameworks); shift ;;
        lint) run_lint=1; shift ;;
        *) echo "test.sh: unknown argument '$1'; usage: test.sh [main|verl|trinity|frameworks|lint ...] [-- PYTEST_ARGS]" >&2; exit 2 ;;
    esac
done
[[ ${#envs[@]} -gt 0 || $run_lint -eq 1 ]] || envs=(main verl trinity frameworks)
# The lint gate uses the main environment's ruff, so it goes with main.
[[ " ${envs[*]} " == *" main "* ]] && run_lint=1

pytest_targets() {
    case $1 in
        # No path: the root pyproject's testpaths, minus what needs the backbone environments.
        main) echo --ignore=tests/ajet_backbone_verl --ignore=tests/ajet_backbone_trinity \
                   --ignore=ajet_backbone_verl --ignore=ajet_backbone_trinity \
                   --ignore=tests/frameworks ;;
        frameworks) echo tests/frameworks ;;
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

# Independent work runs side by side (two cores are rarely both busy with one of these: pip waits
# on the disk, a test on a subprocess or a server). A background job writes its own log, shown
# whole when the job is waited for, so no two jobs' lines interleave.
declare -A job_pid=()
start_job() {  # start_job NAME COMMAND...   (log: test-artifacts/NAME.log)
    local name=$1
    shift
    "$@" > "$ARTIFACTS/$name.log" 2>&1 &
    job_pid[$name]=$!
}
finish_job() {  # finish_job NAME -> the job's exit status, after printing its log
    local name=$1 code
    wait "${job_pid[$name]}"
    code=$?
    echo
    echo "================ [test] $name (exit $code; log test-artifacts/$name.log) ================"
    cat "$ARTIFACTS/$name.log"
    return $code
}

# --- 1. environments, the Debian packages and the test models --------------------------------
# main first: the models are made with its Python (it alone has SmolLM2's package). Then the
# other environments, the Debian packages (browser, sandbox) and the models, side by side.
setup_env() {  # setup_env ENV: sets summary[ENV] on failure
    if ! "$ROOT/scripts/setup_env.sh" "$1"; then
        summary[$1]="environment setup FAILED (scripts/setup_env.sh $1)"
        overall=1
    fi
}
install_debian_packages() {
    # Never fails the run: the tests that need them skip themselves without them.
    "$ROOT/scripts/install_browser.sh"
    "$ROOT/scripts/install_sandbox.sh"
}
models_env=""
if [[ " ${envs[*]} " == *" main "* ]]; then
    setup_env main
    [[ -z ${summary[main]:-} ]] && models_env=main
fi
for env in "${envs[@]}"; do
    [[ $env == main ]] || start_job "setup-$env" "$ROOT/scripts/setup_env.sh" "$env"
done
[[ ${#envs[@]} -eq 0 ]] || start_job debian-packages install_debian_packages
# The TypeScript remote agent (tests/core/remote) needs its npm packages and a compile.
[[ " ${envs[*]} " != *" main "* ]] || start_job typescript-client "$ROOT/scripts/setup_typescript_client.sh"
# A failure fails the run; the tests that need a model then fail naming the command.
[[ -z $models_env ]] || start_job models "$ROOT/scripts/setup_models.sh" "$models_env"
for env in "${envs[@]}"; do
    [[ $env == main ]] && continue
    if ! finish_job "setup-$env"; then
        summary[$env]="environment setup FAILED (scripts/setup_env.sh $env)"
        overall=1
    fi
done
[[ ${#envs[@]} -eq 0 ]] || finish_job debian-packages
if [[ " ${envs[*]} " == *" main "* ]]; then finish_job typescript-client || overall=1; fi
if [[ -n $models_env ]]; then
    finish_job models || overall=1
elif [[ ${#envs[@]} -gt 0 ]]; then
    # No main: the first environment that was set up makes the models (SmolLM2 is skipped there).
    for env in "${envs[@]}"; do [[ -z $models_env && -z ${summary[$env]:-} ]] && models_env=$env; done
    if [[ -n $models_env ]]; then "$ROOT/scripts/setup_models.sh" "$models_env" || overall=1; fi
fi
setup_seconds=$((SECONDS - phase_start))

# --- 2. the lint gate: a failure fails the run, but the tests below still run ----------------
lint_line=""
if [[ $run_lint -eq 1 ]]; then
    echo
    echo "================ [test] lint: scripts/lint.sh ================"
    "$ROOT/scripts/lint.sh" 2>&1 | tee "$ARTIFACTS/lint.txt"
    [[ ${PIPESTATUS[0]} -eq 0 ]] || overall=1
    lint_line=$(tail -n 1 "$ARTIFACTS/lint.txt")
fi

# --- 3. tests: each environment's pytest, side by side ---------------------------------------
# Within an environment, pytest-xdist runs test files on WORKERS processes (--dist loadfile: a
# file's tests share one worker, so a module fixture, e.g. verl's training run, is made once).
# AJET_TEST_WORKERS=1 runs each environment's tests in one process.
WORKERS=${AJET_TEST_WORKERS:-2}
run_pytest() {  # run_pytest ENV: writes test-artifacts/summary-ENV.txt and exits as pytest did
    local env=$1 start=$SECONDS code counts targets=() parallel=()
    read -r -a targets <<< "$(pytest_targets "$env" | tr '\n' ' ')"
    [[ $WORKERS -gt 1 ]] && parallel=(-n "$WORKERS" --dist loadfile)
    local junit=$ARTIFACTS/junit-$env.xml
    rm -f "$junit"
    echo "================ [test] $env environment: pytest ${targets[*]} ${parallel[*]} ${pytest_extra[*]:-} ================"
    AJET_TEST_ENV=$env "$VENVS_DIR/$env/bin/python" -m pytest "${targets[@]}" "${parallel[@]}" \
        --junitxml="$junit" "${pytest_extra[@]}"
    code=$?
    counts=$(python3 "$ROOT/scripts/junit_counts.py" "$junit")
    local seconds=$((SECONDS - start))
    case $code in
        0) echo "$counts in $seconds s (pytest exit 0)" ;;
        5) echo "no tests collected in $seconds s (pytest exit 5, counted as a pass)" ;;
        *) echo "$counts in $seconds s (pytest exit $code: FAILED)" ;;
    esac > "$ARTIFACTS/summary-$env.txt"
    [[ $code -eq 0 || $code -eq 5 ]]
}
tests_start=$SECONDS
ran=()
for env in "${envs[@]}"; do
    [[ -n ${summary[$env]:-} ]] && continue  # its setup failed
    ran+=("$env")
    # main in the foreground (its output live), the backbone environments beside it.
    [[ $env == main ]] || start_job "pytest-$env" run_pytest "$env"
done
if [[ " ${ran[*]} " == *" main "* ]]; then
    echo
    run_pytest main || overall=1
fi
for env in "${ran[@]}"; do
    [[ $env == main ]] || finish_job "pytest-$env" || overall=1
    summary[$env]=$(cat "$ARTIFACTS/summary-$env.txt")
done
tests_seconds=$((SECONDS - tests_start))

echo
echo "================ [test] summary ================"
echo "phases: set-up (environments, Debian packages, models) ${setup_seconds} s, tests ${tests_seconds} s (workers per environment: $WORKERS)"
for env in "${envs[@]}"; do
    printf '%s: %s\n' "$env" "${summary[$env]}"
done
junit_files=()
for env in "${envs[@]}"; do junit_files+=("$ARTIFACTS/junit-$env.xml"); done
# Each failed test by name, here at the end: a CI log may keep only its tail.
[[ ${#envs[@]} -eq 0 ]] || python3 "$ROOT/scripts/junit_counts.py" --failures "${junit_files[@]}"
if [[ -n $lint_line ]]; then echo "$lint_line"; fi
# The last line is the plain closing line CI reads: "total: N passed, N failed, N skipped".
# (`test.sh lint` alone runs no tests: its lint line closes the summary.)
[[ ${#envs[@]} -eq 0 ]] || python3 "$ROOT/scripts/junit_counts.py" --total "${junit_files[@]}"
exit $overall
