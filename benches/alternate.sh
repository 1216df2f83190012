#!/usr/bin/env bash
# Two commands run alternately, RUNS times each, and the fastest wall time of each: on a noisy
# machine a ratio measured this way moves less than one from two separate series.
#
#   bash benches/alternate.sh 'wc -l LOG' './target/release/nginx-forensics --format json LOG'
#   RUNS=20 bash benches/alternate.sh 'CMD_A' 'CMD_B'
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 'COMMAND A' 'COMMAND B'" >&2; exit 2; }
RUNS=${RUNS:-10}
best_a="" best_b=""
for _ in $(seq "$RUNS"); do
    for which in a b; do
        cmd=$1
        [ $which = b ] && cmd=$2
        start=$(date +%s.%N)
        bash -c "$cmd" > /dev/null 2>&1 || true
        end=$(date +%s.%N)
        secs=$(echo "$end - $start" | bc -l)
        if [ $which = a ]; then
            if [ -z "$best_a" ] || (( $(echo "$secs < $best_a" | bc -l) )); then best_a=$secs; fi
        else
            if [ -z "$best_b" ] || (( $(echo "$secs < $best_b" | bc -l) )); then best_b=$secs; fi
        fi
    done
done
printf 'A %.3f s   B %.3f s   B/A %.2f\n' "$best_a" "$best_b" "$(echo "$best_b / $best_a" | bc -l)"
