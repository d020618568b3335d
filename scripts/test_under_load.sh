#!/usr/bin/env bash
# The load check (`make test-under-load`): the README's test command, `make test`, as a new user
# runs it, on a busy machine. It clones this repository's HEAD into a temporary folder (a fresh
# clone: no venvs, no model cache, no build outputs; pip's download cache is the user's own),
# starts two CPU-bound busy loops, runs `make test` there, and prints the totals and the wall time.
# Exit status: that of `make test`. The clone is deleted afterwards (AJET_KEEP_CLONE=1 keeps it);
# the whole log is kept in test-artifacts/test_under_load.log.
#
# Usage: scripts/test_under_load.sh [BUSY_LOOPS]     (default 2)
# AJET_LOAD_COMMAND replaces `make test` (e.g. to try this script itself with a quick command).
# Commit first: uncommitted changes are not in the clone.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOOPS=${1:-2}
COMMAND=${AJET_LOAD_COMMAND:-make test}
# A cap on each busy loop, should this script die without running its trap (SIGKILL).
LOOP_LIMIT_S=${AJET_LOAD_LOOP_LIMIT_S:-7200}
LOG=$ROOT/test-artifacts/test_under_load.log
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ajet-under-load.XXXXXX")
busy=()

cleanup() {
    local pid
    for pid in "${busy[@]}"; do kill "$pid" 2>/dev/null; done
    wait "${busy[@]}" 2>/dev/null
    if [[ ${AJET_KEEP_CLONE:-0} == 1 ]]; then echo "[load] clone kept at $WORK/ajet"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$(dirname "$LOG")"
echo "[load] cloning $(git -C "$ROOT" rev-parse --short HEAD) into $WORK/ajet"
git clone --quiet --no-hardlinks "$ROOT" "$WORK/ajet" || exit 2

for ((i = 0; i < LOOPS; i++)); do
    timeout "$LOOP_LIMIT_S" bash -c 'while :; do :; done' &
    busy+=($!)
done
echo "[load] $LOOPS busy loops running (pids ${busy[*]}); running '$COMMAND' in the clone"

start=$SECONDS
(cd "$WORK/ajet" && bash -c "$COMMAND") 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
wall=$((SECONDS - start))

echo
echo "================ [load] $COMMAND under $LOOPS busy loops ================"
grep -E '^(phases|main|verl|trinity|frameworks|lint|total):' "$LOG" || echo "(no summary lines: see $LOG)"
echo "wall: ${wall} s ($((wall / 60)) min $((wall % 60)) s), exit status $status, load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$status"
