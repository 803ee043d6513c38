#!/usr/bin/env bash
# The firewall test bed of docs/testbeds.md, end to end on one host (run as root, from the
# repository root, after `cargo build --release`):
#   docs/testbeds/firewall-recipe.sh            # results in /tmp/netdiffd-fw
# Two private network namespaces: nd-rep (the replayer: rep1, rep2) and nd-fw (a Linux router
# with nftables and conntrack between fw1 and fw2). Nothing leaves them: the router forwards
# by input interface to the replayer's other port and has no other route.
set -euo pipefail
ND=$(readlink -f "${NETDIFFD:-target/release/netdiffd}")
OUT=${OUT:-/tmp/netdiffd-fw}
MIX=${MIX:-netflix=2,teams=1,dns=1,zoom=1,portscan=1,tunnel=1}
FLOWS=${FLOWS:-300}
mkdir -p "$OUT"
R1MAC=02:00:00:00:0a:01 R2MAC=02:00:00:00:0a:02 F1MAC=02:00:00:00:0d:01 F2MAC=02:00:00:00:0d:02

cleanup() { ip netns del nd-rep 2>/dev/null || true; ip netns del nd-fw 2>/dev/null || true; }
trap cleanup EXIT
cleanup

# 1. Topology: rep1 <-> fw1 and rep2 <-> fw2, IPv6 off.
for ns in nd-rep nd-fw; do
  ip netns add $ns
  ip netns exec $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n $ns link set lo up
done
ip link add rep1 netns nd-rep address $R1MAC type veth peer name fw1 netns nd-fw address $F1MAC
ip link add rep2 netns nd-rep address $R2MAC type veth peer name fw2 netns nd-fw address $F2MAC
for i in rep1 rep2; do ip -n nd-rep link set $i up; done
for i in fw1 fw2; do ip -n nd-fw link set $i up; done

# 2. The firewall: forwarding, no reverse-path filter, what enters fw1 leaves fw2 towards rep2
#    (a next hop with a permanent neighbour entry: the replayer answers no ARP) and back.
ip netns exec nd-fw sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
  net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.fw1.rp_filter=0 net.ipv4.conf.fw2.rp_filter=0 \
  net.ipv4.conf.all.send_redirects=0
ip -n nd-fw addr add 169.254.2.1/30 dev fw2
ip -n nd-fw addr add 169.254.1.1/30 dev fw1
ip -n nd-fw neigh replace 169.254.2.2 lladdr $R2MAC dev fw2 nud permanent
ip -n nd-fw neigh replace 169.254.1.2 lladdr $R1MAC dev fw1 nud permanent
ip -n nd-fw route add default via 169.254.2.2 dev fw2 onlink table 100
ip -n nd-fw route add default via 169.254.1.2 dev fw1 onlink table 200
ip -n nd-fw rule add iif fw1 lookup 100
ip -n nd-fw rule add iif fw2 lookup 200
ip netns exec nd-fw nft -f - <<'NFT'
table inet fw {
  counter invalid {}
  counter refused {}
  counter unrelated {}
  counter probes {}
  chain forward_filter {
    type filter hook forward priority 0; policy accept;
    meta l4proto udp udp dport != { 53, 443 } udp sport != { 53, 443 } counter name refused drop
    icmp type { destination-unreachable, time-exceeded } ct state invalid counter name unrelated drop
    tcp flags & (syn | ack | rst) == 0 ct state invalid counter name probes drop
    tcp flags & (syn | rst | ack) == rst | ack tcp sequence 0 ct state invalid counter name probes drop
    ct state invalid counter name invalid drop
    ct state established,related accept
  }
}
NFT
ip netns exec nd-fw sysctl -qw net.netfilter.nf_conntrack_tcp_be_liberal=0

# 3. Traffic of a class mix and its ground truth.
"$ND" generate --mix "$MIX" --flows "$FLOWS" --seed 9 -o "$OUT/job.pcap" --labels "$OUT/job.jsonl"

# 4. Capture what passes (it comes back on the replayer's other port), replay inline.
ip netns exec nd-rep tcpdump -i rep2 -Q in -U -w "$OUT/passed-client.pcap" 2>/dev/null & T1=$!
ip netns exec nd-rep tcpdump -i rep1 -Q in -U -w "$OUT/passed-server.pcap" 2>/dev/null & T2=$!
sleep 1
ip netns exec nd-rep "$ND" replay -i rep1 -I rep2 --enet-dmac $F1MAC,$F2MAC --pps 4000 \
  --labels "$OUT/replayed.jsonl" "$OUT/job.pcap"
sleep 1
kill -INT $T1 $T2; wait $T1 $T2 2>/dev/null || true

# 5. The score (the classes come from the generated ground truth; replayed.jsonl adds when
#    each flow left and on which port), and what the firewall counted.
"$ND" score --labels "$OUT/job.jsonl" --png "$OUT/score.png" \
  "$OUT/passed-client.pcap" "$OUT/passed-server.pcap"
echo "firewall counters:"
ip netns exec nd-fw nft list counter inet fw invalid | grep packets
ip netns exec nd-fw nft list counter inet fw refused | grep packets
ip netns exec nd-fw nft list counter inet fw unrelated | grep packets
ip netns exec nd-fw nft list counter inet fw probes | grep packets
