#!/usr/bin/env bash
# Logs an attacker can shape, timed beside the common 1M-line log: wall time and peak RSS.
#
#   bash benches/hostile.sh
#
#   probes   N = 100,000 paths on one host, each answered 302 at the same 12 beats by one user
#            agent (1.2M lines): every path a periodic caller, every one judged
#   long     200,000 lines, each a new 8 KB path (a cluster each)
#   unique   10,000,000 lines, each a new path (a cluster each; 1.3 GB)
#   common   the 1M-line log of benches/compare.sh, for the ratio (ROUNDS alternating runs of
#            common and probes at the end, the fastest of each compared)
#
# Under the default --max-memory (512M), `long` and `unique` fold their one-request clusters:
# their peak RSS must stay under 512 MB (524,288 KB).
set -euo pipefail
WORK=${WORK:-${TMPDIR:-/tmp}/nginx-forensics-hostile}
cd "$(dirname "$0")/.."
cargo build --release --quiet --bins --examples
NF=./target/release/nginx-forensics
mkdir -p "$WORK"
[ -s "$WORK/probes.log" ] || python3 - "$WORK/probes.log" <<'PY'
import sys
with open(sys.argv[1], "w") as out:
    for beat in range(12):
        t = 1558723294 + beat * 60
        for i in range(100000):
            out.write('{"msec":"%d.%03d","host":"app.example.com","request":"GET /p/x%d HTTP/1.1",'
                      '"status":"302","http_user_agent":"Go-http-client/1.1"}\n' % (t, i % 1000, i))
PY
[ -s "$WORK/long.log" ] || python3 - "$WORK/long.log" <<'PY'
import sys
pad = "x" * 8000
with open(sys.argv[1], "w") as out:
    for i in range(200000):
        out.write('{"msec":"%d.%03d","host":"app.example.com","request":"GET /p/%s%d HTTP/1.1",'
                  '"status":"200","http_user_agent":"curl/8"}\n' % (1558723294 + i // 100, i % 1000, pad, i))
PY
[ -s "$WORK/unique.log" ] || python3 benches/unique.py 10000000 "$WORK/unique.log"
[ -s "$WORK/common.log" ] || ./target/release/examples/generate 1000000 > "$WORK/common.log"
for log in common probes long unique; do
    cat "$WORK/$log.log" > /dev/null
    /usr/bin/time -f "$log: %e s, %M KB peak" "$NF" --format json "$WORK/$log.log" > /dev/null
done

# The target for `probes` is a ratio to `common`, and this VM's speed drifts by a third within
# minutes: the two alternate, ROUNDS times each (default 5), and the fastest of each is compared.
ROUNDS=${ROUNDS:-5}
best() { sort -n | head -1; }
for _ in $(seq "$ROUNDS"); do
    for log in common probes; do
        /usr/bin/time -f "$log %e %U %S" "$NF" --format json "$WORK/$log.log" 2>&1 > /dev/null | tail -1
    done
done > "$WORK/rounds.txt"
common=$(awk '$1 == "common" {print $2}' "$WORK/rounds.txt" | best)
probes=$(awk '$1 == "probes" {print $2}' "$WORK/rounds.txt" | best)
echo "fastest of $ROUNDS alternating: common $common s, probes $probes s, ratio $(awk -v p="$probes" -v c="$common" 'BEGIN { printf "%.2f", p / c }')"
# Each round's pair (common, then probes) as a ratio of wall time and of CPU time (user and
# system, which the VM's scheduling moves less): lowest, median and highest.
spread() { sort -n | awk '{ v[NR] = $1 } END { printf "%.2f–%.2f, median %.2f", v[1], v[NR], (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
paste - - < "$WORK/rounds.txt" > "$WORK/pairs.txt"
echo "each pair, wall: $(awk '{ print $6 / $2 }' "$WORK/pairs.txt" | spread) ($(awk '$6 / $2 > 2' "$WORK/pairs.txt" | wc -l) of $ROUNDS over 2)"
echo "each pair, CPU: $(awk '{ print ($7 + $8) / ($3 + $4) }' "$WORK/pairs.txt" | spread)"

