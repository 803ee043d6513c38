# Writes the captures of this folder from real Ethernet captures (the arguments; the README names
# them): their first IPv4/IPv6 frames with the Ethernet header replaced by another link header,
# and two edge cases the nPrint tool reads in its own way.
import struct, sys

def frames(path, n):
    b = open(path, 'rb').read()
    assert b[:4] == b'\xd4\xc3\xb2\xa1', 'a little-endian microsecond pcap'
    off, out = 24, []
    while off + 16 <= len(b) and len(out) < n:
        ts, tu, incl, orig = struct.unpack_from('<IIII', b, off)
        data = b[off + 16:off + 16 + incl]
        off += 16 + incl
        if data[12:14] in (b'\x08\x00', b'\x86\xdd'):
            out.append((ts, tu, data))
    return out

def write(name, linktype, recs):
    with open(name, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, linktype))
        for ts, tu, data in recs:
            f.write(struct.pack('<IIII', ts, tu, len(data), len(data)) + data)

src = [r for path in sys.argv[1:] for r in frames(path, 16)]
v4 = lambda d: d[12:14] == b'\x08\x00'
# The frames themselves, for the tool's rows of the packets inside the other link headers.
write('ethernet.pcap', 1, src)
# BSD loopback: address family in host (little-endian) byte order, AF_INET 2, AF_INET6 30.
write('null.pcap', 0, [(t, u, struct.pack('<I', 2 if v4(d) else 30) + d[14:]) for t, u, d in src])
# OpenBSD loopback: the family in network byte order (AF_INET6 24 there).
write('loop.pcap', 108, [(t, u, struct.pack('>I', 2 if v4(d) else 24) + d[14:]) for t, u, d in src])
# Linux cooked v2: protocol, reserved, interface index, ARPHRD_ETHER, packet type, address.
write('sll2.pcap', 276, [(t, u, d[12:14] + b'\0\0' + struct.pack('>IHBB', 2, 1, 0, 6) + d[6:12] + b'\0\0' + d[14:])
                         for t, u, d in src])
# Raw IPv4 from 8.0.69.x: bytes 12-13 read 0x0800, so the tool takes the packet for an Ethernet
# frame and reads an "IPv4 header" from byte 14 (0x45: version 4, IHL 5).
raw = []
for t, u, d in src:
    if v4(d):
        ip = bytearray(d[14:])
        ip[12:15] = bytes([8, 0, 0x45])
        raw.append((t, u, bytes(ip)))
write('raw-8-0.pcap', 101, raw)
# IPv4 fragments: each IPv4 packet split 8 bytes past its transport header; the tool reads the
# second fragment's first bytes as a transport header. Only pairs whose second fragment holds
# the whole header the tool would read are kept: past a frame's captured end the tool reads
# whatever follows in libpcap's buffer, which netdiffd does not imitate (it skips the frame).
frag = []
for t, u, d in src:
    if not v4(d):
        continue
    eth, ip = d[:14], d[14:]
    hl, proto = (ip[0] & 15) * 4, ip[9]
    body = ip[hl:]
    l4 = (body[12] >> 4) * 4 if proto == 6 else 8
    cut = (l4 + 7) // 8 * 8 + 8
    rest = body[cut:]
    read = (rest[12] >> 4) * 4 if proto == 6 and len(rest) > 12 else 8
    if len(rest) < max(read, 20 if proto == 6 else 8):
        continue
    for off, part, more in ((0, body[:cut], 1), (cut // 8, rest, 0)):
        h = bytearray(ip[:hl])
        struct.pack_into('>H', h, 2, hl + len(part))
        struct.pack_into('>H', h, 6, (more << 13) | off)
        frag.append((t, u, eth + bytes(h) + part))
write('fragments.pcap', 1, frag)
