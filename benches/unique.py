#!/usr/bin/env python3
"""A scanner's log: N requests, each to a new path (a cluster each), 1,000 a second from
2019-05-24T18:41:34Z, in the JSON of sample-logs/msec-keys.jsonl.

    python3 benches/unique.py N OUT
"""
import sys

LETTERS = "ghijklmnopqrstuvwxyz"  # no hex digits: a path segment of these is never an id


def word(i):
    s = []
    while True:
        s.append(LETTERS[i % 20])
        i //= 20
        if i == 0:
            return "".join(s)


n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w", buffering=1 << 20) as out:
    for start in range(0, n, 100_000):
        out.write("".join(
            '{"msec":"%d.%03d","host":"app.example.com","request":"GET /w/%s HTTP/1.1",'
            '"status":"404","http_user_agent":"scanner"}\n' % (1558723294 + i // 1000, i % 1000, word(i))
            for i in range(start, min(n, start + 100_000))))
