#!/usr/bin/env bash
# Run the warm `make setup` N times (default 30) and stop at the first failure: setup must not
# fail now and then (it did, about one run in seven, on a SIGPIPE under pipefail).
#
#     toolchain/check-setup-repeat.sh 30
#
# Each run's output goes to a log under $TMPDIR, kept for a failed run and for the slowest;
# the summary says how many runs passed and how long they took.
set -euo pipefail

runs="${1:-30}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log_dir="$(mktemp -d "${TMPDIR:-/tmp}/paif-setup-repeat.XXXXXX")"
start=$SECONDS
slowest=0
for ((i = 1; i <= runs; i++)); do
    log="$log_dir/run-$i.log"
    run_start=$SECONDS
    if ! make -C "$ROOT" setup >"$log" 2>&1; then
        echo "run $i of $runs FAILED after $((SECONDS - run_start)) s ($((i - 1)) passed before it); its output: $log" >&2
        tail -n 20 "$log" >&2
        exit 1
    fi
    took=$((SECONDS - run_start))
    if ((took > slowest)); then
        slowest=$took
        mv "$log" "$log_dir/slowest.log"
    else
        rm -f "$log"
    fi
done
echo "make setup: $runs of $runs runs passed in $((SECONDS - start)) s (slowest run $slowest s: $log_dir/slowest.log)"
