#!/bin/bash
# Top speed of every `netdiffd replay` sender against tcpreplay on the veth test bed of
# shared/bench/replay (same capture-measured runs as its matrix.sh), interleaved, REPS times;
# then the CPU time of both tools at 1 k packets/s. Run as root, in one foreground command:
#   cp -r ../shared/bench/replay /tmp/rbench      # a writable copy: the test pcaps go there
#   BENCH=/tmp/rbench NETDIFFD=target/release/netdiffd REPS=5 benches/replay-senders.sh
# Run matrix.sh first (it writes the test pcaps).
set -e
ND=$(readlink -f "${NETDIFFD:?set NETDIFFD to the netdiffd binary}")
cd "${BENCH:?set BENCH to a writable copy of shared/bench/replay}"
export BENCH=$PWD
REPS=${REPS:-5}
for f in p64 p1500 gap1ms; do [ -f $f.pcap ] || { echo "$f.pcap missing: run matrix.sh first" >&2; exit 1; }; done
mkdir -p /dev/shm/rb
./netns.sh up > /dev/null
trap './netns.sh down' EXIT
R=/dev/shm/rb/senders.jsonl; : > $R
for rep in $(seq 1 "$REPS"); do
  for f in p64 p1500; do
    ./run_one.sh tcpreplay_${f}_$rep $f.pcap -- tcpreplay -i IFACE -t -K $f.pcap >> $R
    for s in xdp mmsg pcap; do
      ./run_one.sh ${s}_${f}_$rep $f.pcap -- "$ND" replay --iface IFACE --topspeed --preload --sender $s $f.pcap >> $R
    done
  done
done
python3 - $R <<'PY'
import json, sys, statistics, collections
pps = collections.defaultdict(list); lost = collections.defaultdict(int)
for line in open(sys.argv[1]):
    r = json.loads(line); k = r['label'].rsplit('_', 1)[0]
    pps[k].append(r['capture_pps']); lost[k] += r['lost']
for k in sorted(pps):
    runs = [round(x / 1000) for x in pps[k]]
    print(f"{k:16s} median {statistics.median(pps[k]):10.0f} pps  runs (k) {runs}  lost {lost[k]}")
PY
for v in tcpreplay netdiffd; do
  if [ $v = tcpreplay ]; then C=(tcpreplay -i rbv0 gap1ms.pcap); else C=("$ND" replay --iface rbv0 gap1ms.pcap); fi
  ip netns exec rbA taskset -c 1 /usr/bin/time -f "$v at 1 kpps: %U s user + %S s system in %e s wall" \
    "${C[@]}" > /dev/null 2> /dev/shm/rb/time.$v
  tail -1 /dev/shm/rb/time.$v
done
