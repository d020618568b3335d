#!/usr/bin/env bash
# The lint gate of the test command: `ruff check .` and `ruff format --check .` from the
# repository root, with the rules and line length pinned in the root pyproject.toml, and
# import-linter's `lint-imports` with the contracts there (layers, no circles). Both are the main
# environment's (scripts/setup_env.sh main pins their versions), so every machine lints alike.
#
# Usage: scripts/lint.sh
#
# Prints the findings, then one closing line: "lint: ok", or
# "lint: N findings (ruff check) / M files to reformat", followed by " / import contracts broken"
# when those fail. Exit status: 0 when clean, 1 when not, 2 when a tool is missing or could not
# read a file or its configuration.
# Environment: AJET_VENVS_DIR (default <repo>/.venvs), as in scripts/setup_env.sh.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENVS_DIR=${AJET_VENVS_DIR:-$ROOT/.venvs}
RUFF=$VENVS_DIR/main/bin/ruff
LINT_IMPORTS=$VENVS_DIR/main/bin/lint-imports
cd "$ROOT"

for tool in "$RUFF" "$LINT_IMPORTS"; do
    if [[ ! -x $tool ]]; then
        echo "lint: $(basename "$tool") not found at $tool; run scripts/setup_env.sh main"
        exit 2
    fi
done

check_out=$("$RUFF" check --output-format concise --no-cache . 2>&1)
check_code=$?
format_out=$("$RUFF" format --check --output-format concise --no-cache . 2>&1)
format_code=$?
[[ -n $check_out ]] && printf '%s\n' "$check_out"
[[ -n $format_out ]] && printf '%s\n' "$format_out"
# Exit 1: a contract is broken (its report says which import to remove); 2 and above: the tool
# could not run.
imports_out=$("$LINT_IMPORTS" --no-cache 2>&1)
imports_code=$?
if [[ $imports_code -ne 0 ]]; then
    printf '%s\n' "$imports_out"
fi
if [[ $imports_code -gt 1 ]]; then
    echo "lint: lint-imports failed (exit $imports_code)"
    exit 2
fi

# Exit 1 is "found something"; anything else means ruff itself failed (bad config, unreadable
# file), which must not pass as clean.
if [[ $check_code -gt 1 || $format_code -gt 1 ]]; then
    echo "lint: ruff failed (ruff check exit $check_code, ruff format --check exit $format_code)"
    exit 2
fi
# The concise format gives one line "path:row:col: ..." per finding and per file to reformat.
findings=$(grep -cE '^[^ ].*:[0-9]+:[0-9]+: ' <<< "$check_out")
reformat=$(grep -cE '^[^ ].*:[0-9]+:[0-9]+: ' <<< "$format_out")
if [[ $check_code -eq 0 && $format_code -eq 0 && $imports_code -eq 0 ]]; then
    echo "lint: ok"
    exit 0
fi
contracts=""
[[ $imports_code -eq 0 ]] || contracts=" / import contracts broken"
echo "lint: $findings findings (ruff check) / $reformat files to reformat$contracts"
exit 1
