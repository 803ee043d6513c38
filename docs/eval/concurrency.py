#!/usr/bin/env python3
"""Mean number of flows open when a flow starts, and the median gap between flow starts, in
ground-truth files of `netdiffd generate --labels F.jsonl`. Usage: concurrency.py F.jsonl..."""
import json, sys
def conc(path):
    fl=[json.loads(l) for l in open(path)]
    fl.sort(key=lambda r:r['first_ts_ns'])
    tot=0
    for i,f in enumerate(fl):
        tot+=1+sum(1 for g in fl[:i] if g['last_ts_ns']>f['first_ts_ns'])
    starts=[f['first_ts_ns'] for f in fl]; gaps=sorted(b-a for a,b in zip(starts,starts[1:]))
    return tot/len(fl), gaps[len(gaps)//2]/1e6
for p in sys.argv[1:]:
    c,g=conc(p); print(p, 'mean concurrency %.2f, median gap between flow starts %.1f ms'%(c,g))
