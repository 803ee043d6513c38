# Writes misread.pcap: Ethernet frames whose EtherType is not IPv4/IPv6, with destination MAC
# addresses that make the nPrint tool read the frame's first bytes as an IP header.
import struct
def ip4_udp(payload=b'hello world!'):
    udp = struct.pack('>HHHH', 5000, 53, 8 + len(payload), 0) + payload
    return struct.pack('>BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 1, 0x4000, 64, 17, 0,
                       bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + udp
def ip4_tcp(payload=b'x' * 20):
    tcp = struct.pack('>HHIIBBHHH', 443, 51000, 1, 2, 0x50, 0x18, 1000, 0, 0) + payload
    return struct.pack('>BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0,
                       bytes([192, 168, 1, 1]), bytes([192, 168, 1, 2])) + tcp
tag = lambda tpid, vid: struct.pack('>HH', tpid, vid)
frames = [
    # 802.1Q; dst MAC 45:..: read as IPv4 (IHL 5), protocol = src MAC byte 3 = 6 (TCP)
    bytes([0x45, 0, 0, 0x3c, 0, 1, 0x40, 0, 0x40, 0x06, 0, 0]) + tag(0x8100, 100) + b'\x08\x00' + ip4_tcp(),
    # 802.1Q; dst MAC 60:..: read as IPv6, next header = src MAC byte 0 = 0x11 (UDP)
    bytes([0x60, 0, 0, 0, 0, 0x40, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66]) + tag(0x8100, 100) + b'\x08\x00' + ip4_udp(),
    # 802.1Q; dst MAC 4c:..: IPv4 with IHL 12 (48 bytes), protocol 17
    bytes([0x4c, 0x32, 0x75, 1, 2, 3, 0xa4, 0x83, 0xe7, 0x11, 0x22, 0x33]) + tag(0x8100, 100) + b'\x08\x00' + ip4_udp(b'y' * 80),
    # 802.1Q with an ordinary unicast MAC: no row
    bytes([0x00, 0x0c, 0x29, 1, 2, 3, 0x00, 0x0c, 0x29, 4, 5, 6]) + tag(0x8100, 100) + b'\x08\x00' + ip4_udp(),
    # untagged IPv4/UDP: an ordinary row
    bytes([0x00, 0x0c, 0x29, 1, 2, 3, 0x00, 0x0c, 0x29, 4, 5, 6]) + b'\x08\x00' + ip4_udp(),
    # ARP to a MAC beginning with 4, protocol byte 17: read as IPv4/UDP too
    bytes([0x40, 0, 0, 0x3c, 0, 1, 0x40, 0, 0x40, 0x11, 0, 0]) + b'\x08\x06' + bytes(range(28)) + bytes(18),
    # 802.1Q; dst MAC 40:..: IPv4 with IHL 0, protocol 1 (ICMP)
    bytes([0x40, 0, 0, 0x3c, 0, 1, 0x40, 0, 0x40, 0x01, 0, 0]) + tag(0x8100, 100) + b'\x08\x00' + ip4_udp(),
    # 802.1ad + 802.1Q; dst MAC 60:..:01:00: IPv6 with payload length 256, next header 6 (TCP);
    # the tool takes the payload at TCP header + 20 * header length
    bytes([0x60, 0, 0, 0, 0x01, 0x00, 0x06, 0x22, 0x33, 0x44, 0x55, 0x66]) + tag(0x88a8, 200) + tag(0x8100, 100) + b'\x08\x00' + ip4_tcp(bytes(range(256)) * 2),
    # 802.1ad + 802.1Q with ordinary MACs: no row
    bytes([0x00, 0x0c, 0x29, 1, 2, 3, 0x00, 0x0c, 0x29, 4, 5, 6]) + tag(0x88a8, 200) + tag(0x8100, 100) + b'\x08\x00' + ip4_tcp(),
]
with open('misread.pcap', 'wb') as f:
    f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
    for i, fr in enumerate(frames):
        f.write(struct.pack('<IIII', 1700000000 + i, 1000 * i, len(fr), len(fr)) + fr)
