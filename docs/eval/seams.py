#!/usr/bin/env python3
"""Seams of chained windows: in captures of long generated TCP flows, how often the direction
changes and how far the inter-arrival bin jumps at the packets where a window began, against
everywhere else. Usage: seams.py WITH_CONTEXT.pcap NEW_PACKETS_A_WINDOW [NO_CONTEXT.pcap 64]

    netdiffd generate --mix bulk_download=1,video_stream=1,ssh=1 --flows 24 --seed 5 -o ctx16.pcap
    netdiffd generate ... --context 0 -o ctx0.pcap
    docs/eval/seams.py ctx16.pcap 48 ctx0.pcap 64
"""
import collections
import math
import subprocess
import sys


def flows(path):
    out = subprocess.run(
        ["tshark", "-r", path, "-T", "fields", "-e", "tcp.stream", "-e", "frame.time_epoch", "-e", "ip.src"],
        capture_output=True, text=True, check=True).stdout
    by = collections.defaultdict(list)
    for line in out.splitlines():
        stream, t, src = line.split("\t")
        if stream:
            by[int(stream)].append((float(t), src))
    return by


def time_bin(gap_s):
    return min(23, int(math.log(1 + gap_s * 1e6) / math.log(1e8 + 1) * 24))


def report(path, step):
    seam_dir, other_dir, seam_jump, other_jump = [], [], [], []
    long_flows = [f for f in flows(path).values() if len(f) >= 200]
    for f in long_flows:
        seams = set(range(64, len(f), step))
        for i in range(2, len(f)):
            changed = f[i][1] != f[i - 1][1]
            jump = abs(time_bin(f[i][0] - f[i - 1][0]) - time_bin(f[i - 1][0] - f[i - 2][0]))
            (seam_dir if i in seams else other_dir).append(changed)
            (seam_jump if i in seams else other_jump).append(jump)
    mean = lambda v: sum(v) / len(v)
    print(f"{path}: {len(long_flows)} flows of 200+ packets, {len(seam_dir)} seams; direction "
          f"changes {mean(seam_dir):.3f} at seams, {mean(other_dir):.3f} elsewhere; time-bin jump "
          f"{mean(seam_jump):.2f} at seams, {mean(other_jump):.2f} elsewhere")


args = sys.argv[1:]
for i in range(0, len(args), 2):
    report(args[i], int(args[i + 1]))
