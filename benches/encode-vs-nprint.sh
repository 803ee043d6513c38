#!/bin/bash
# `netdiffd encode` against the nPrint tool, side by side on one input, in one run:
#   cargo build --release && benches/encode-vs-nprint.sh
# Builds the nPrint tool (1.2.1) from ../shared/reference/nprint-src with its build.sh when
# NPRINT is unset (needs autoconf automake libtool libpcap-dev g++), builds the input that
# `netdiffd bench encode` uses (every Ethernet frame of the corpus captures, in order, repeated
# to PACKETS frames, 1 µs apart), then runs both tools REPS times, alternating, with
# NetDiffusion's option set (-F -1 -4 -6 -t -u -i -p 0). Both write the CSV to standard output
# redirected to a file in WORK (the same I/O for both; `sync` before every run). One more
# netdiffd run per rep writes with -W, which renames a complete, fsync'ed file into place.
# Prints each wall time, the medians and their ratio, checks the outputs byte for byte, and
# prints the load average before and after.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ND=$(readlink -f "${NETDIFFD:-$root/target/release/netdiffd}")
WORK=${WORK:-/tmp/encode-bench}
REPS=${REPS:-3}
PACKETS=${PACKETS:-269560}
CORPUS=${CORPUS:-$root/../shared/corpus}
OPTS=(-F -1 -4 -6 -t -u -i -p 0)
mkdir -p "$WORK"
if [ -z "${NPRINT:-}" ]; then
  NPRINT=$WORK/nprint-build/nprint
  if [ ! -x "$NPRINT" ]; then
    "$root/../shared/reference/nprint-src/build.sh" "$WORK/nprint-build" > /dev/null 2>&1 || true
    [ -x "$NPRINT" ] || { echo "building the nPrint tool failed (autoconf automake libtool libpcap-dev g++ installed?)" >&2; exit 1; }
  fi
fi
IN=$WORK/input.pcap
python3 - "$CORPUS" "$PACKETS" "$IN" <<'PY'
import os, struct, sys
corpus, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
frames = []
for cls in sorted(os.listdir(corpus)):
    d = os.path.join(corpus, cls)
    if not os.path.isdir(d):
        continue
    for fn in sorted(os.listdir(d)):
        if not fn.endswith('.pcap'):
            continue
        b = open(os.path.join(d, fn), 'rb').read()
        e = {b'\xd4\xc3\xb2\xa1': '<', b'\x4d\x3c\xb2\xa1': '<',
             b'\xa1\xb2\xc3\xd4': '>', b'\xa1\xb2\x3c\x4d': '>'}.get(b[:4])
        if e is None or struct.unpack(e + 'I', b[20:24])[0] & 0x0fffffff != 1:
            continue  # not a pcap file, or not Ethernet
        o = 24
        while o + 16 <= len(b):
            incl = struct.unpack(e + 'I', b[o + 8:o + 12])[0]
            frames.append(b[o + 16:o + 16 + incl])
            o += 16 + incl
with open(out, 'wb') as f:
    f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
    us = 1_700_000_000_000_000
    for n in range(count):
        fr = frames[n % len(frames)]
        us += 1
        f.write(struct.pack('<IIII', us // 1_000_000, us % 1_000_000, len(fr), len(fr)))
        f.write(fr)
print(f'input: {out}, {count} frames ({len(frames)} Ethernet frames of the corpus, repeated)')
PY
echo "nprint: $NPRINT"
echo "netdiffd: $ND"
echo "options: ${OPTS[*]}"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
wall() { # wall seconds of "$@"
  local t0 t1
  t0=$(date +%s.%N); "$@"; t1=$(date +%s.%N)
  echo "$t0 $t1" | awk '{printf "%.3f", $2 - $1}'
}
np=() nd=() ndw=()
for r in $(seq 1 "$REPS"); do
  rm -f "$WORK"/nprint.csv "$WORK"/netdiffd.csv "$WORK"/netdiffd-W.csv; sync
  np+=("$(wall bash -c '"$0" -P "$1" "${@:3}" > "$2"' "$NPRINT" "$IN" "$WORK/nprint.csv" "${OPTS[@]}")")
  sync
  nd+=("$(wall bash -c '"$0" encode -q -P "$1" "${@:3}" > "$2"' "$ND" "$IN" "$WORK/netdiffd.csv" "${OPTS[@]}")")
  sync
  ndw+=("$(wall "$ND" encode -q -P "$IN" "${OPTS[@]}" -W "$WORK/netdiffd-W.csv")")
  echo "rep $r: nprint ${np[-1]} s, netdiffd ${nd[-1]} s, netdiffd -W (fsync) ${ndw[-1]} s"
  cmp "$WORK/nprint.csv" "$WORK/netdiffd.csv"
  cmp "$WORK/nprint.csv" "$WORK/netdiffd-W.csv"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m_np=$(median "${np[@]}"); m_nd=$(median "${nd[@]}"); m_ndw=$(median "${ndw[@]}")
rows=$(($(wc -l < "$WORK/nprint.csv") - 1))
echo "outputs identical: $rows rows, $(stat -c %s "$WORK/nprint.csv") bytes"
echo "median of $REPS: nprint $m_np s, netdiffd $m_nd s ($(awk -v a="$m_np" -v b="$m_nd" 'BEGIN {printf "%.1f", a / b}') x), netdiffd -W $m_ndw s ($(awk -v a="$m_np" -v b="$m_ndw" 'BEGIN {printf "%.1f", a / b}') x)"
rm -f "$WORK"/nprint.csv "$WORK"/netdiffd.csv "$WORK"/netdiffd-W.csv
