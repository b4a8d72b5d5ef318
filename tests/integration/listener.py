#!/usr/bin/env python3
"""listener.py MODE OUT — a listener for t_listeners.sh: reads events as
NDJSON on stdin, appends each seq it acknowledges to OUT, answers on
stdout. MODE: ack (every event), nack-once (nacks a seq the first time),
crash-once (exits, unanswered, at its third event, once per OUT), stall
(reads nothing for 1.5 s, then acks), mute (reads, never answers)."""
import json
import os
import sys
import time

mode, out = sys.argv[1], sys.argv[2]
print("listener up, mode " + mode, file=sys.stderr, flush=True)
if mode == "stall":
    time.sleep(1.5)
nacked, n = set(), 0
with open(out, "a") as f:
    for line in sys.stdin:
        ev = json.loads(line)
        seq, n = ev["seq"], n + 1
        if mode == "mute":
            continue
        if mode == "crash-once" and n == 3 and not os.path.exists(out + ".crashed"):
            open(out + ".crashed", "w").close()
            print("crashing at #%d" % seq, file=sys.stderr, flush=True)
            os._exit(3)
        if mode == "nack-once" and seq not in nacked:
            nacked.add(seq)
            print(json.dumps({"nack": seq, "error": "busy"}), flush=True)
            continue
        f.write("%d\n" % seq)
        f.flush()
        print(json.dumps({"ack": seq}), flush=True)
