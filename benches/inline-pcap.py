#!/usr/bin/env python3
"""Test capture for benches/inline-replay.sh: a classic little-endian pcap (microsecond
timestamps) of N Ethernet/IPv4/UDP frames of one flow whose direction alternates. Frame i
carries i as a 64-bit big-endian sequence number at byte offset 42 (the start of the UDP
payload); even i go client 192.0.2.1:40000 -> server 192.0.2.2:9, odd i come back
server -> client. Every frame is FRAME_LEN bytes on the wire (no FCS) and frame i is due
i * GAP_NS after the first. TEST-NET addresses and locally administered MACs: the frames only
ever travel inside the benchmark's private veth pairs.

usage: inline-pcap.py OUT N FRAME_LEN GAP_NS
"""
import struct
import sys

CLIENT = (bytes.fromhex('020000000001'), bytes([192, 0, 2, 1]), 40000)
SERVER = (bytes.fromhex('020000000002'), bytes([192, 0, 2, 2]), 9)


def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def frame(i, flen):
    src, dst = (CLIENT, SERVER) if i % 2 == 0 else (SERVER, CLIENT)
    ip_len = flen - 14
    udp_len = ip_len - 20
    payload = struct.pack('!Q', i) + bytes(udp_len - 8 - 8)
    udp = struct.pack('!HHHH', src[2], dst[2], udp_len, 0) + payload
    iph = struct.pack('!BBHHHBBH4s4s', 0x45, 0, ip_len, i & 0xffff, 0, 64, 17, 0, src[1], dst[1])
    iph = iph[:10] + struct.pack('!H', csum(iph)) + iph[12:]
    f = dst[0] + src[0] + b'\x08\x00' + iph + udp
    assert len(f) == flen and struct.unpack('!Q', f[42:50])[0] == i
    return f


def main():
    out, n, flen, gap = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    assert 60 <= flen <= 1514 and gap % 1000 == 0, 'frame length 60-1514, gap in whole µs'
    t0 = 1_700_000_000 * 10**6  # µs
    with open(out, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i in range(n):
            sec, usec = divmod(t0 + i * gap // 1000, 10**6)
            f.write(struct.pack('<IIII', sec, usec, flen, flen))
            f.write(frame(i, flen))


if __name__ == '__main__':
    main()
