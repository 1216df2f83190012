#!/usr/bin/env python3
"""Mutation fuzzing through the binary: lines of sample-logs/ with bytes flipped, cut, repeated
or spliced with quotes, backslashes, \\xHH, NULs, invalid UTF-8, zero-width characters, escapes,
far-off times; read from a file, a .gz and stdin in every format, and replayed as if live
(`--replay`) under a tiny `--max-memory`. Checks: no panic, an exit code of 0, 1 or 3, every line
accounted for (the JSON summary, the final heartbeat of the events, the Prometheus line counts),
no ESC in the table, no <script in the HTML, every Prometheus sample line well formed.

    cargo build --release && python3 benches/fuzz.py SEED LINES
"""
import random, gzip, subprocess, json, sys, os, tempfile
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
WORK = tempfile.mkdtemp()
random.seed(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
base = []
for f in ['sample-logs/incident.jsonl','sample-logs/combined.log','sample-logs/hostile.jsonl','sample-logs/elastic-keys.jsonl','sample-logs/msec-keys.jsonl']:
    base += open(os.path.join(ROOT, f),'rb').read().split(b'\n')
base = [b for b in base if b]
inserts = [b'"', b'\\', b'\\x', b'\\u00', b'\x00', b'\xff', b'\xe2\x80\x8b', b'{', b'}', b',', b':', b' ', b'\t', b'\r', b'\x1b[2J', b'9999-12-31T23:59:59Z', b'1558723294123456', b'-', b'null', b'[', b']', b'\xf0\x9f\x98\x80', b'\\"', b'\x7f']
def mutate(line):
    l = bytearray(line)
    for _ in range(random.randint(1, 4)):
        op = random.randint(0, 5)
        if not l: break
        i = random.randrange(len(l))
        if op == 0: l[i] = random.randrange(256)
        elif op == 1: del l[i:i+random.randint(1, 20)]
        elif op == 2: l[i:i] = random.choice(inserts)
        elif op == 3: l = l[:i]
        elif op == 4: l[i:i] = l[max(0,i-30):i]
        else: l[i:i] = os.urandom(random.randint(1, 8))
    return bytes(l).replace(b'\n', b'')
lines = []
for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 50000):
    lines.append(mutate(random.choice(base)) if random.random() < 0.7 else random.choice(base))
data = b'\n'.join(lines) + b'\n'
open(os.path.join(WORK, 'in.log'),'wb').write(data)
gzip.open(os.path.join(WORK, 'in.log.gz'),'wb').write(data)
NF=os.path.join(ROOT, 'target/release/nginx-forensics')
problems = 0
import re
SAMPLE = re.compile(rb'^[a-z_]+(\{([a-z_]+="([^"\\\n]|\\.)*",?)*\})? [-+0-9.eInfNa]+$')
runs = [(fmt, []) for fmt in ['json', 'table', 'markdown', 'html', 'events', 'prometheus']]
runs += [('events', ['--replay', '--every', '1m', '--max-memory', '1M']), ('json', ['--replay', '--max-memory', '1M'])]
for fmt, extra in runs:
    for src in [[os.path.join(WORK, 'in.log')], [os.path.join(WORK, 'in.log.gz')], []]:
        p = subprocess.run([NF, '--format', fmt] + extra + src, input=(data if not src else None), capture_output=True, timeout=600)
        if p.returncode not in (0, 1, 3) or b'panicked' in p.stderr:
            problems += 1; print('PROBLEM', fmt, src, p.returncode, p.stderr[-300:])
        if fmt == 'json':
            r = json.loads(p.stdout)
            s = r['summary']
            if s['lines'] != s['parsed'] + s['malformed'] + s['skipped_lines'] or s['lines'] != len(lines):
                problems += 1; print('ACCOUNTING', src, s['lines'], len(lines), s['parsed'], s['malformed'], s['skipped_lines'])
        if fmt == 'events':
            last = json.loads(p.stdout.splitlines()[-1])
            if last['event'] != 'heartbeat' or last['state'] != 'final' or last['lines'] != len(lines):
                problems += 1; print('EVENTS ACCOUNTING', extra, src, last.get('lines'), len(lines))
        if fmt == 'prometheus':
            counts = {}
            for l in p.stdout.splitlines():
                if l.startswith(b'#'): continue
                if not SAMPLE.match(l):
                    problems += 1; print('PROMETHEUS line', l[:200])
                m = re.match(rb'nginx_forensics_lines\{kind="(\w+)"\} (\d+)', l)
                if m: counts[m.group(1)] = int(m.group(2))
            if sum(counts.values()) != len(lines):
                problems += 1; print('PROMETHEUS ACCOUNTING', src, counts, len(lines))
        if fmt == 'table' and b'\x1b' in p.stdout:
            problems += 1; print('ESCAPE reached the terminal', src)
        if fmt == 'html' and (b'<script' in p.stdout):
            problems += 1; print('HTML injection', src)
print('lines', len(lines), 'problems', problems)
sys.exit(1 if problems else 0)
