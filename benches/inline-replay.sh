#!/bin/bash
# Inline (two-interface) replay, side by side: `netdiffd replay -i A -I B --cachefile C` against
# `tcpreplay -i A -I B --cachefile C` on one test bed, interleaved, REPS times. Run as root, in
# one foreground command, from the repository root:
#   NETDIFFD=target/release/netdiffd REPS=5 benches/inline-replay.sh
# (NETDIFFD: the binary to measure; TCPREPLAY, TCPPREP: default /usr/bin/...; WORK: where the
# test pcaps, captures and results go, default /dev/shm/ib; QUIET_WAIT: seconds to wait first
# for other builds and test suites to finish, default 900, 0 skips the wait; KEEP=1 keeps the
# captures; RUN_WAIT: before each run, wait up to this many seconds, default 90, while a build or
# test suite runs or the machine's CPU is over 25 % busy.)
#
# Test bed: two private network namespaces, ibA (the replayer; veths ia1, ia2) and ibB (the
# captures; their peers ib1, ib2), IPv6 off, no addresses, nothing routed: a frame sent on ia1
# can only reach ib1, one sent on ia2 only ib2. Both are removed on exit.
# Test pcaps (benches/inline-pcap.py): one UDP flow alternating direction, even sequence numbers
# client 192.0.2.1:40000 -> server 192.0.2.2:9, odd ones back; the 64-bit sequence number at
# byte offset 42. The split is the real tcpprep's: --cidr=192.0.2.1/32 makes the even frames
# primary (ia1) and the odd ones secondary (ia2), checked with tcpprep --print-info (for caches
# of up to 65,535 packets; tcpprep 4.4.3 prints nothing for larger ones, see below).
# Cases: top speed with 64-byte and 1514-byte frames (100k frames), captured timing with 1 ms
# gaps (5k frames) and 100 µs gaps (20k frames). Measured on ib1 and ib2 by tcpdump (nanosecond
# timestamps, pinned to CPU 0; the replayer pinned to CPU 1), the two captures merged by time;
# nothing is taken from either tool's own report.
set -e
HERE=$(dirname "$(readlink -f "$0")")
ND=$(readlink -f "${NETDIFFD:?set NETDIFFD to the netdiffd binary}")
TCPREPLAY=${TCPREPLAY:-/usr/bin/tcpreplay}
TCPPREP=${TCPPREP:-/usr/bin/tcpprep}
REPS=${REPS:-5}
W=${WORK:-/dev/shm/ib}
QUIET_WAIT=${QUIET_WAIT:-900}
RUN_WAIT=${RUN_WAIT:-90}
[ "$(id -u)" = 0 ] || { echo "run as root (network namespaces)" >&2; exit 1; }
for t in "$ND" "$TCPREPLAY" "$TCPPREP" tcpdump taskset python3; do
  command -v "$t" > /dev/null || { echo "$t missing" >&2; exit 1; }
done
mkdir -p "$W"; cd "$W"
"$TCPREPLAY" -V 2>&1 | head -1
echo "netdiffd: $ND ($(stat -c %y "$ND" | cut -d. -f1))"

# --- wait until no build or test suite runs beside us -------------------------------------
busy() { pgrep -x cargo > /dev/null || pgrep -x rustc > /dev/null || pgrep -f '/target/(release|debug)/deps/' > /dev/null; }
# percent of all cores busy over the next $1 seconds
cpu_pct() { local a=$(head -1 /proc/stat); sleep $1; echo "$a $(head -1 /proc/stat)" |
  awk '{ for (i = 2; i <= 11; i++) { t0 += $i; t1 += $(i + 11) } i0 = $5 + $6; i1 = $16 + $17
         print int(100 * ((t1 - t0) - (i1 - i0)) / ((t1 - t0) ? (t1 - t0) : 1)) }'; }
waited=0
while busy && [ $waited -lt "$QUIET_WAIT" ]; do sleep 20; waited=$((waited + 20)); done
if busy; then echo "QUIET: no: builds/tests still running after ${waited} s, measuring anyway"
else echo "QUIET: yes (waited ${waited} s)"; fi
echo "START $(date -u '+%F %T UTC'); uptime:$(uptime)"

# --- test pcaps and the tcpprep caches ----------------------------------------------------
# The split must alternate: frame 1 (seq 0, client -> server) primary, frame 2 secondary, ...
# tcpprep 4.4.3's --print-info refuses caches of more than 65,535 packets (it exits -1 without
# printing), so those are checked against a small cache that --print-info did verify: the same
# two-bit code for every frame of the same direction, and --print-stats' totals.
codes() { # CACHE [N]: the tcpprep (version 04) cache's per-packet two-bit codes (the first N)
  python3 -c '
import struct, sys
d = open(sys.argv[1], "rb").read(); n, = struct.unpack("!Q", d[12:20]); c, = struct.unpack("!H", d[22:24])
b = d[24 + c:]; n = min(n, int(sys.argv[2])) if len(sys.argv) > 2 else n
print("\n".join(str((b[i // 4] >> (i % 4 * 2)) & 3) for i in range(n)))' "$@"
}
mk() { # NAME N LEN GAP_NS
  [ -f $1.pcap ] || python3 "$HERE/inline-pcap.py" $1.pcap $2 $3 $4
  [ -f $1.cache ] || "$TCPPREP" --cidr=192.0.2.1/32 --pcap=$1.pcap --cachefile=$1.cache
  if [ $2 -le 65535 ]; then
    "$TCPPREP" --print-info $1.cache | awk -v n=$2 -v f=$1 '
      /^Packet/ { k++; want = (($2 - 1) % 2 == 0) ? "Primary" : "Secondary"; if ($4 != want) bad++ }
      END { if (k != n || bad) { printf "%s.cache: %d entries, %d not alternating\n", f, k, bad; exit 1 }
            printf "%s.cache: %d entries, tcpprep --print-info: primary, secondary, primary, ...\n", f, k }'
  else
    local ref=$(codes gap1ms.cache 2 | tr '\n' ' ')
    codes $1.cache | awk -v n=$2 -v f=$1 -v ref="$ref" '
      BEGIN { split(ref, r, " ") } { k++; if ($1 != r[(k - 1) % 2 + 1]) bad++ }
      END { if (k != n || bad) { printf "%s.cache: %d entries, %d not alternating\n", f, k, bad; exit 1 }
            printf "%s.cache: %d entries, same codes as gap1ms.cache, alternating\n", f, k }'
    "$TCPPREP" --print-stats $1.cache | tr '\t' ' ' | tr -s ' ' | tr '\n' ';'; echo
    "$TCPPREP" --print-stats $1.cache | grep -q "^Primary packets:.*\b$(($2 / 2))\$" || { echo "$1.cache: wrong totals" >&2; exit 1; }
  fi
}
mk gap1ms 5000 64 1000000
mk gap100us 20000 64 100000
mk top64 100000 64 1000
mk top1514 100000 1514 1000

# --- analysis (written once, run after every replay, and for the summary) ------------------
cat > analyze.py << 'PY'
#!/usr/bin/env python3
"""analyze.py ORIG.pcap CAP_SIDE1.pcap CAP_SIDE2.pcap -> one JSON line. Side 1 (ib1) must get
the even sequence numbers, side 2 (ib2) the odd ones."""
import json, struct, sys

def read_pcap(path):
    data = open(path, 'rb').read()
    magic = struct.unpack('<I', data[:4])[0]
    e = '<' if magic in (0xa1b2c3d4, 0xa1b23c4d) else '>'
    nano = struct.unpack(e + 'I', data[:4])[0] == 0xa1b23c4d
    off, out = 24, []
    while off + 16 <= len(data):
        s, fr, incl, orig = struct.unpack(e + 'IIII', data[off:off + 16]); off += 16
        p = data[off:off + incl]; off += incl
        if len(p) >= 50 and p[12:14] == b'\x08\x00' and p[23] == 17:
            out.append((struct.unpack('!Q', p[42:50])[0], s * 10**9 + (fr if nano else fr * 1000)))
    return out

def pct(v, p):
    if not v: return None
    v = sorted(v); k = (len(v) - 1) * p / 100.0; lo = int(k); hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)

def gap_errors(frames, ot):
    e = [abs((t1 - t0) - (ot[s1] - ot[s0])) for (s0, t0, _), (s1, t1, _) in zip(frames, frames[1:])]
    return {'median': pct(e, 50), 'p99': pct(e, 99), 'max': max(e)} if e else None

orig = read_pcap(sys.argv[1]); ot = dict(orig); n = len(orig)
res = {'frames': n}
merged = []
for side in (1, 2):
    seen, dup, wrong, reord, last, rx = set(), 0, 0, 0, -1, []
    for s, t in read_pcap(sys.argv[1 + side]):
        if s not in ot: continue
        if s in seen: dup += 1; continue
        seen.add(s)
        if s % 2 != side - 1: wrong += 1
        if s < last: reord += 1
        last = max(last, s); rx.append((s, t, side))
    want = sum(1 for s in ot if s % 2 == side - 1)
    res['side%d' % side] = {'expected': want, 'received': len(rx), 'lost': want - (len(rx) - wrong),
                            'wrong_side': wrong, 'dup': dup, 'reordered_within': reord}
    merged += rx
# merge the two captures by time (same clock: both veth peers are timestamped by one kernel)
merged.sort(key=lambda x: (x[1], x[0]))
ties = sum(1 for a, b in zip(merged, merged[1:]) if a[1] == b[1] and a[2] != b[2])
reord, last = 0, -1
for s, _, _ in merged:
    if s < last: reord += 1
    last = max(last, s)
res.update({'received': len(merged), 'lost': n - len(merged), 'out_of_order': reord,
            'cross_side_ties': ties})
if len(merged) > 1:
    s0, t0, _ = merged[0]; s1, t1, _ = merged[-1]
    res['capture_s'] = (t1 - t0) / 1e9
    res['capture_pps'] = (len(merged) - 1) / ((t1 - t0) / 1e9) if t1 > t0 else None
    res['gap_err_ns'] = gap_errors(merged, ot)
    res['drift_ns'] = (t1 - t0) - (ot[s1] - ot[s0])
    for side in (1, 2):
        fr = [x for x in merged if x[2] == side]
        res['side%d' % side]['gap_err_ns'] = gap_errors(fr, ot)
        if fr:  # the side's last frame against the schedule anchored at the first frame overall
            res['side%d' % side]['drift_ns'] = (fr[-1][1] - t0) - (ot[fr[-1][0]] - ot[s0])
print(json.dumps(res))
PY

cat > summary.py << 'PY'
#!/usr/bin/env python3
import json, sys, statistics, collections
rows = [json.loads(l) for l in open(sys.argv[1])]
g = collections.defaultdict(list)
for r in rows: g[(r['case'], r['tool'])].append(r)
def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None
def f(x, fmt):
    return '-' if x is None else fmt % x
cases = ['top64', 'top1514', 'gap1ms', 'gap100us']
print('\nmedians over reps; gap errors in µs (merged capture, then side 1 = ib1/primary, side 2 = ib2/secondary); drift in ms')
print('%-9s %-9s %2s %10s %7s %8s %6s %5s %6s %8s %8s %8s %8s %8s %8s %8s %8s' % (
    'case', 'tool', 'n', 'pps', 'ratio', 'lost', 'ooo', 'wrong', 'tdDrop',
    'gapMed', 'gapP99', 's1Med', 's1P99', 's2Med', 's2P99', 'drift', 'maxSideDrift'))
for c in cases:
    base = med([r.get('capture_pps') for r in g.get((c, 'tcpreplay'), [])])
    for tool in ('tcpreplay', 'netdiffd'):
        rs = g.get((c, tool))
        if not rs: continue
        pps = med([r.get('capture_pps') for r in rs])
        timed = c.startswith('gap')
        def ge(side, q):  # median over reps of a gap-error statistic, in µs
            return med([(r[side] if side else r)['gap_err_ns'][q] / 1e3 for r in rs
                        if (r[side] if side else r).get('gap_err_ns')])
        print('%-9s %-9s %2d %10s %7s %8s %6s %5s %6s %8s %8s %8s %8s %8s %8s %8s %8s' % (
            c, tool, len(rs), f(pps, '%.0f'),
            f(pps / base if (base and tool == 'netdiffd' and not timed) else None, '%.2fx'),
            '%d/%d' % (med([r['side1']['lost'] for r in rs]), med([r['side2']['lost'] for r in rs])),
            f(med([r['out_of_order'] for r in rs]), '%d'),
            f(sum(r['side1']['wrong_side'] + r['side2']['wrong_side'] for r in rs), '%d'),
            f(med([r.get('tcpdump_dropped') for r in rs]), '%d'),
            *(f(ge(k, q), '%.2f') if timed else '' for k in (None, 'side1', 'side2') for q in ('median', 'p99')),
            f(med([r.get('drift_ns') for r in rs]) / 1e6, '%+.2f') if timed else '',
            f(med([max(abs(r['side1'].get('drift_ns', 0)), abs(r['side2'].get('drift_ns', 0))) for r in rs]) / 1e6, '%.2f') if timed else ''))
bg = [r['bg_cores'] for r in rows if r.get('bg_cores') is not None]
print('\nbackground CPU before each run (0.5 s, nothing of ours running): median %.2f, max %.2f cores; '
      'runs with a build or test suite running: %d of %d; waited before runs %d s in all' % (
      med(bg), max(bg), sum(1 for r in rows if r.get('busy')), len(rows), sum(r.get('waited_s', 0) for r in rows)))
print('\nrun by run:')
for (c, tool), rs in sorted(g.items(), key=lambda kv: (cases.index(kv[0][0]), kv[0][1])):
    print('  %-9s %-9s pps %s  lost %s  ooo %s  tool_sent %s  bg cores %s' % (c, tool,
          [round(r.get('capture_pps') or 0) for r in rs], [r['lost'] for r in rs],
          [r['out_of_order'] for r in rs], [r.get('tool_sent') for r in rs],
          [round(r['bg_cores'], 2) for r in rs if r.get('bg_cores') is not None]))
    if c.startswith('gap'):
        print('  %-19s p99 µs all %s  side1 %s  side2 %s  drift ms %s' % ('',
              [round(r['gap_err_ns']['p99'] / 1e3, 1) for r in rs],
              [round(r['side1']['gap_err_ns']['p99'] / 1e3, 1) for r in rs],
              [round(r['side2']['gap_err_ns']['p99'] / 1e3, 1) for r in rs],
              [round(r['drift_ns'] / 1e6, 2) for r in rs]))
PY

# --- the test bed ----------------------------------------------------------------------------
ip netns add ibA
trap 'ip netns del ibA 2>/dev/null; ip netns del ibB 2>/dev/null; true' EXIT
ip netns add ibB
for ns in ibA ibB; do
  ip netns exec $ns sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n $ns link set lo up
done
for k in 1 2; do
  ip link add ia$k netns ibA type veth peer name ib$k netns ibB
  ip netns exec ibA sysctl -q -w net.ipv6.conf.ia$k.disable_ipv6=1
  ip netns exec ibB sysctl -q -w net.ipv6.conf.ib$k.disable_ipv6=1
  ip -n ibA link set ia$k up; ip -n ibB link set ib$k up
done
ctr() { ip netns exec $1 cat /sys/class/net/$2/statistics/$3; }

# run_one TOOL CASE REP -- CMD...: capture on ib1 and ib2 while CMD runs in ibA on CPU 1
R=$W/results.jsonl; : > $R
run_one() {
  local tool=$1 cs=$2 rep=$3; shift 4
  local t0=$SECONDS
  while [ $((SECONDS - t0)) -lt "$RUN_WAIT" ] && { busy || [ "$(cpu_pct 1)" -gt 25 ]; }; do sleep 1; done
  local run_wait=$((SECONDS - t0))
  local L=$W/${tool}_${cs}_$rep pids=() k
  for k in 1 2; do
    rm -f $L.ib$k.pcap
    ip netns exec ibB taskset -c 0 tcpdump -i ib$k -nn -s 64 -B 131072 --time-stamp-precision=nano \
      -w $L.ib$k.pcap udp 2> $L.ib$k.err &
    pids+=($!)
  done
  for i in $(seq 50); do grep -q listening $L.ib1.err && grep -q listening $L.ib2.err && break; sleep 0.1; done
  # the machine's CPU use over 0.5 s while nothing of ours runs (cores busy)
  local bg0=$(head -1 /proc/stat) bg1 was_busy=0
  sleep 0.5
  bg1=$(head -1 /proc/stat); busy && was_busy=1
  local c0="$(ctr ibA ia1 tx_packets) $(ctr ibA ia2 tx_packets) $(ctr ibA ia1 tx_dropped) $(ctr ibA ia2 tx_dropped) $(ctr ibB ib1 rx_packets) $(ctr ibB ib2 rx_packets)"
  local rc=0
  ip netns exec ibA taskset -c 1 "$@" > $L.out 2>&1 || rc=$?
  sleep 1
  kill -INT "${pids[@]}"; wait "${pids[@]}" 2> /dev/null || true
  local c1="$(ctr ibA ia1 tx_packets) $(ctr ibA ia2 tx_packets) $(ctr ibA ia1 tx_dropped) $(ctr ibA ia2 tx_dropped) $(ctr ibB ib1 rx_packets) $(ctr ibB ib2 rx_packets)"
  python3 - $tool $cs $rep $rc "$c0" "$c1" $L "$bg0" "$bg1" $was_busy $run_wait << 'PY' >> $R
import json, os, re, subprocess, sys
tool, case, rep, rc, c0, c1, L, bg0, bg1, was_busy, run_wait = sys.argv[1:]
a, b = [list(map(int, x.split()[1:])) for x in (bg0, bg1)]
d = [y - x for x, y in zip(a, b)]; idle = d[3] + d[4]
bg_cores = (sum(d) - idle) / sum(d) * os.cpu_count() if sum(d) else None
r = json.loads(subprocess.check_output(['python3', 'analyze.py', case + '.pcap', L + '.ib1.pcap', L + '.ib2.pcap']))
d = [int(b) - int(a) for a, b in zip(c0.split(), c1.split())]
r.update({'tool': tool, 'case': case, 'rep': int(rep), 'rc': int(rc), 'bg_cores': bg_cores,
          'busy': was_busy == '1', 'waited_s': int(run_wait),
          'veth': dict(zip(['ia1_tx', 'ia2_tx', 'ia1_tx_dropped', 'ia2_tx_dropped', 'ib1_rx', 'ib2_rx'], d))})
drops = [re.search(r'(\d+) packets dropped by kernel', open(L + '.ib%d.err' % k).read()) for k in (1, 2)]
r['tcpdump_dropped'] = sum(int(m.group(1)) for m in drops if m)
out = open(L + '.out').read()
if tool == 'tcpreplay':
    m = re.search(r'Actual: (\d+) packets', out); r['tool_sent'] = int(m.group(1)) if m else None
else:
    try:
        j = json.loads(out[out.index('{'):])
        r['tool_sent'] = [i.get('packets') for i in j.get('interfaces', [])]
        r['sender'] = j.get('sender')
    except ValueError:
        r['tool_sent'] = None
print(json.dumps(r))
PY
  [ "${KEEP:-0}" = 1 ] || rm -f $L.ib1.pcap $L.ib2.pcap
  tail -1 $R | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print("  %-9s %-8s rep %s: rc %d, %s pps, lost %d, out of order %d%s" % (r["tool"], r["case"], r["rep"], r["rc"], round(r.get("capture_pps") or 0), r["lost"], r["out_of_order"], ", p99 gap error %.1f us, drift %+.2f ms" % (r["gap_err_ns"]["p99"]/1e3, r["drift_ns"]/1e6) if r["case"].startswith("gap") else ""))'
}

INL="-i ia1 -I ia2"
for rep in $(seq 1 "$REPS"); do
  for tool in tcpreplay netdiffd; do
    for cs in top64 top1514 gap1ms gap100us; do
      if [ $tool = tcpreplay ]; then
        C=("$TCPREPLAY" $INL -c $cs.cache)
        [[ $cs = top* ]] && C+=(-t -K)
      else
        C=("$ND" replay $INL --cachefile $cs.cache --json)
        [[ $cs = top* ]] && C+=(--topspeed --preload)
      fi
      run_one $tool $cs $rep -- "${C[@]}" $cs.pcap
    done
  done
done
echo "END $(date -u '+%F %T UTC'); uptime:$(uptime)"
busy && echo "QUIET: builds/tests were running at the end" || true
python3 summary.py $R
