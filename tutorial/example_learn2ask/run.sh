#!/usr/bin/env bash
# Run an `ajet` command on the learn-to-ask tutorial with its judge served alongside: starts
# `ajet serve` of judge_model.yaml on a free port, passes its URL as judger.base_url, and stops
# it afterwards. From the repository root:
#
#   tutorial/example_learn2ask/run.sh train                      # train (learn2ask.yaml)
#   tutorial/example_learn2ask/run.sh eval eval.max_tasks=12     # held-out numbers, base model
#
# AJET (default: the main environment's ajet) and JUDGE_MODEL (default: judge_model.yaml's
# model.path) choose the command and the judge's model; any other argument is an override.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/tutorial/example_learn2ask
AJET=${AJET:-$ROOT/.venvs/main/bin/ajet}
[[ $# -ge 1 ]] || { echo "usage: $0 train|eval|rollout [KEY=VALUE ...]" >&2; exit 2; }
command=$1; shift
cd "$ROOT"

log=$(mktemp -t learn2ask-judge.XXXXXX)
judge_args=()
[[ -n ${JUDGE_MODEL:-} ]] && judge_args+=("model.path=$JUDGE_MODEL")
"$AJET" serve --conf "$HERE/judge_model.yaml" --port 0 --model-name judge "${judge_args[@]}" \
    >"$log" 2>&1 &
judge=$!
trap 'kill "$judge" 2>/dev/null; wait "$judge" 2>/dev/null; rm -f "$log"' EXIT
# Ready when it prints its address; a judge that exits first is an error with its log.
until grep -q "^serving" "$log"; do
    kill -0 "$judge" 2>/dev/null || { echo "the judge did not start:" >&2; cat "$log" >&2; exit 1; }
    sleep 1
done
url=$(grep -m1 "^serving" "$log" | sed 's/.* at \([^ ]*\).*/\1/')
echo "judge: $url"
"$AJET" "$command" --conf "$HERE/learn2ask.yaml" "judger.base_url=$url" "$@"
