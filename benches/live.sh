#!/usr/bin/env bash
# The live path: memory over a week of log time, and its throughput against the batch path.
#
#   bash benches/live.sh
#
#   week   `generate 1500000 2`: browsers at 2 requests/s and the incident's monitors, 7.3 days
#   day    its first day; hour: its first hour
#
# Memory: --replay (the follow path without waiting: a log replayed as if live, with the default
# --window 1h and --every 1m, the textfile rewritten every minute) must stay flat after the
# first window: the peak RSS for an hour, a day and a week of log time. Throughput: the follow
# path on the 1M-line log of benches/compare.sh against the batch path, the target being 20 %:
# a replay with the defaults whose report goes to standard output (every minute's observations
# cut and put in panes, expired panes dropped; the reports before the last go nowhere and are
# not made). Then what reports add: the same replay with the report written out (-o) once a day,
# every hour, every 10 minutes and every minute (the default), each a full analysis of the last
# hour (docs/performance.md, "What the 20 % target measures"). Memory under the budget:
# 4,000,000 unique paths in 67 minutes, replayed and followed.
set -euo pipefail
WORK=${WORK:-${TMPDIR:-/tmp}/nginx-forensics-live}
cd "$(dirname "$0")/.."
cargo build --release --quiet --bins --examples
NF=./target/release/nginx-forensics
mkdir -p "$WORK"
[ -s "$WORK/week.log" ] || ./target/release/examples/generate 1500000 2 > "$WORK/week.log"
[ -s "$WORK/day.log" ] || awk -F'"' '$4 < "2019-05-25T00:00:00"' "$WORK/week.log" > "$WORK/day.log"
[ -s "$WORK/hour.log" ] || awk -F'"' '$4 < "2019-05-24T01:00:00"' "$WORK/week.log" > "$WORK/hour.log"
[ -s "$WORK/common.log" ] || ./target/release/examples/generate 1000000 > "$WORK/common.log"
for log in hour day week; do
    cat "$WORK/$log.log" > /dev/null
    /usr/bin/time -f "replay $log ($(wc -l < "$WORK/$log.log") lines): %e s, %M KB peak" \
        "$NF" --replay --format prometheus -o "$WORK/$log.prom" "$WORK/$log.log"
done
/usr/bin/time -f "batch week: %e s, %M KB peak" "$NF" --format prometheus "$WORK/week.log" > /dev/null
for run in 1 2 3; do
    /usr/bin/time -f "common batch: %e s" "$NF" --format json "$WORK/common.log" > /dev/null
    /usr/bin/time -f "common replay, the final report only: %e s" \
        "$NF" --replay --format json "$WORK/common.log" > /dev/null
done
for every in 1d 1h 10m 1m; do
    /usr/bin/time -f "common replay, a report every $every (-o): %e s" \
        "$NF" --replay --every "$every" --format prometheus -o "$WORK/common.prom" "$WORK/common.log"
done
# The memory budget holds for the window as a whole: a scanner sending a new path each request,
# 4,000,000 of them in 67 minutes, replayed and followed under the default --max-memory (512M).
[ -s "$WORK/unique.log" ] || python3 benches/unique.py 4000000 "$WORK/unique.log"
/usr/bin/time -f "unique replay, a report a minute (-o): %e s, %M KB peak" \
    "$NF" --replay --format prometheus -o "$WORK/unique.prom" "$WORK/unique.log"
/usr/bin/time -f "unique batch: %e s, %M KB peak" "$NF" --format prometheus "$WORK/unique.log" > /dev/null
# --follow on a log that already holds a week: the time to the first report (the history is read,
# then reported once), against the batch run.
for log in common week unique; do
    out=$WORK/first.prom
    rm -f "$out"
    start=$(date +%s.%N)
    "$NF" --follow --format prometheus -o "$out" "$WORK/$log.log" 2> /dev/null &
    pid=$!
    until [ -s "$out" ]; do sleep 0.02; done
    echo "follow $log: first report after $(echo "$(date +%s.%N) - $start" | bc) s, $(grep VmHWM /proc/$pid/status | tr -s ' ') peak so far"
    kill -TERM "$pid"
    wait "$pid"
    /usr/bin/time -f "batch $log: %e s" "$NF" --format prometheus "$WORK/$log.log" > /dev/null
done
