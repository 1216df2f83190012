#!/usr/bin/env bash
# Side by side, on the same generated log, from the page cache: the floor (`wc -l`), GoAccess,
# jq, and nginx-forensics (file, stdin, gzip against zcat alone). Prints wall time (best of
# RUNS), peak memory (/usr/bin/time -v) and ratios. A peer that is not installed is skipped.
#
#   bash benches/compare.sh            # 1,000,000 lines (~384 MB), 3 runs each
#   LINES=10000000 RUNS=1 bash benches/compare.sh
#
# Not part of .ci/run: it takes minutes and wants GoAccess (apt-get install goaccess) and jq.
set -euo pipefail

LINES=${LINES:-1000000}
RUNS=${RUNS:-3}
WORK=${WORK:-${TMPDIR:-/tmp}/nginx-forensics-compare}
cd "$(dirname "$0")/.."

cargo build --release --quiet --bins --examples
NF=./target/release/nginx-forensics
mkdir -p "$WORK"
LOG=$WORK/incident-$LINES.log
if [ ! -s "$LOG" ]; then
    echo "generating $LINES lines into $LOG" >&2
    ./target/release/examples/generate "$LINES" > "$LOG"
fi
[ -s "$LOG.gz" ] || gzip -c "$LOG" > "$LOG.gz"
cat "$LOG" "$LOG.gz" > /dev/null # into the page cache

have_time_v=0
if /usr/bin/time -v true 2> /dev/null; then have_time_v=1; fi

# measure NAME COMMAND: best wall time of $RUNS and the peak RSS of that run.
declare -A SECS MEM
measure() {
    local name=$1 cmd=$2 best="" best_mem="-"
    for _ in $(seq "$RUNS"); do
        local start end secs mem="-"
        start=$(date +%s.%N)
        if [ $have_time_v = 1 ]; then
            /usr/bin/time -v bash -c "$cmd" > /dev/null 2> "$WORK/time.txt" || true
            mem=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$WORK/time.txt")
        else
            bash -c "$cmd" > /dev/null 2>&1 || true
        fi
        end=$(date +%s.%N)
        secs=$(echo "$end - $start" | bc -l)
        if [ -z "$best" ] || (($(echo "$secs < $best" | bc -l))); then
            best=$secs
            best_mem=$mem
        fi
    done
    SECS[$name]=$best
    MEM[$name]=$best_mem
    printf '%-44s %8.3f s %8s MB\n' "$name" "$best" "$best_mem" >&2
}

ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }

BYTES=$(stat -c %s "$LOG")
echo "log: $LOG, $LINES lines, $BYTES bytes; best of $RUNS runs" >&2
measure "wc -l" "wc -l < '$LOG'"
measure "zcat (gzip alone)" "zcat '$LOG.gz'"
measure "nginx-forensics FILE" "$NF --format json '$LOG'"
measure "nginx-forensics < FILE (stdin)" "$NF --format json < '$LOG'"
measure "cat FILE | nginx-forensics (pipe)" "cat '$LOG' | $NF --format json"
measure "nginx-forensics FILE.gz" "$NF --format json '$LOG.gz'"
measure "nginx-forensics --threads 1 FILE" "$NF --threads 1 --format json '$LOG'"
if command -v jq > /dev/null; then
    measure "jq -r .http_user_agent" "jq -r .http_user_agent '$LOG'"
else
    echo "jq: not installed, skipped" >&2
fi
if command -v goaccess > /dev/null; then
    measure "goaccess (JSON log format, JSON report)" "goaccess '$LOG' --log-format='{\"@timestamp\":\"%dT%t+%^\",\"remote_addr\":\"%h\",\"host\":\"%v\",\"request\":\"%r\",\"status\":\"%s\",\"body_bytes_sent\":\"%b\",\"request_time\":\"%T\",\"http_referrer\":\"%R\",\"http_user_agent\":\"%u\"}' --date-format=%Y-%m-%d --time-format=%H:%M:%S -o json"
else
    echo "goaccess: not installed, skipped (apt-get install goaccess)" >&2
fi

nf=${SECS["nginx-forensics FILE"]}
echo
echo "| run | time | peak RSS | ratio |"
echo "|---|---:|---:|---|"
row() { printf '| `%s` | %.3f s | %s MB | %s |\n' "${1//|/\\|}" "${SECS[$1]}" "${MEM[$1]}" "$2"; }
row "wc -l" "floor"
row "nginx-forensics FILE" "$(ratio "$nf" "${SECS["wc -l"]}")× wc -l; $(printf '%.2f' "$(echo "$BYTES / $nf / 1000000000" | bc -l)") GB/s"
row "nginx-forensics < FILE (stdin)" "$(ratio "${SECS["nginx-forensics < FILE (stdin)"]}" "$nf")× file"
row "cat FILE | nginx-forensics (pipe)" "$(ratio "${SECS["cat FILE | nginx-forensics (pipe)"]}" "$nf")× file"
row "nginx-forensics FILE.gz" "$(ratio "${SECS["nginx-forensics FILE.gz"]}" "${SECS["zcat (gzip alone)"]}")× zcat"
row "zcat (gzip alone)" ""
row "nginx-forensics --threads 1 FILE" "$(ratio "${SECS["nginx-forensics --threads 1 FILE"]}" "$nf")× two threads"
if [ -n "${SECS["jq -r .http_user_agent"]:-}" ]; then
    row "jq -r .http_user_agent" "nginx-forensics is $(ratio "${SECS["jq -r .http_user_agent"]}" "$nf")× faster"
fi
if [ -n "${SECS["goaccess (JSON log format, JSON report)"]:-}" ]; then
    row "goaccess (JSON log format, JSON report)" "nginx-forensics is $(ratio "${SECS["goaccess (JSON log format, JSON report)"]}" "$nf")× faster"
fi
