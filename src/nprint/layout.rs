//! The nPrint bit layout: blocks, fields, column names, and the two derived layouts netdiffd
//! uses (NetDiffusion's 1088-column image layout and the 1024-value model layout). Every mapping
//! between layouts lives here.

/// A bit value: 1, 0, or -1 for vacant.
pub type Bit = i8;

/// The vacant value.
pub const VACANT: Bit = -1;

/// A header block of the nPrint layout, in the order the nPrint tool emits them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Block {
    /// Ethernet header (112 bits).
    Eth,
    /// IPv4 header with 40 bytes of options space (480 bits).
    Ipv4,
    /// IPv6 fixed header (320 bits).
    Ipv6,
    /// TCP header with 40 bytes of options space (480 bits).
    Tcp,
    /// UDP header (64 bits).
    Udp,
    /// ICMP header (64 bits).
    Icmp,
    /// Payload bytes (8 bits each, as many as the layout asks for).
    Payload,
}

impl Block {
    /// The fixed-size header blocks (every block but the payload), in layout order.
    pub const HEADERS: [Block; 6] = [
        Block::Eth,
        Block::Ipv4,
        Block::Ipv6,
        Block::Tcp,
        Block::Udp,
        Block::Icmp,
    ];
}

/// A named field of a block and its width in bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Column prefix, e.g. `ipv4_ttl`.
    pub name: &'static str,
    /// Width in bits.
    pub bits: usize,
}

const fn f(name: &'static str, bits: usize) -> Field {
    Field { name, bits }
}

/// Ethernet fields.
pub const ETH_FIELDS: &[Field] = &[
    f("eth_dhost", 48),
    f("eth_shost", 48),
    f("eth_ethertype", 16),
];
/// IPv4 fields.
pub const IPV4_FIELDS: &[Field] = &[
    f("ipv4_ver", 4),
    f("ipv4_hl", 4),
    f("ipv4_tos", 8),
    f("ipv4_tl", 16),
    f("ipv4_id", 16),
    f("ipv4_rbit", 1),
    f("ipv4_dfbit", 1),
    f("ipv4_mfbit", 1),
    f("ipv4_foff", 13),
    f("ipv4_ttl", 8),
    f("ipv4_proto", 8),
    f("ipv4_cksum", 16),
    f("ipv4_src", 32),
    f("ipv4_dst", 32),
    f("ipv4_opt", 320),
];
/// IPv6 fields.
pub const IPV6_FIELDS: &[Field] = &[
    f("ipv6_ver", 4),
    f("ipv6_tc", 8),
    f("ipv6_fl", 20),
    f("ipv6_len", 16),
    f("ipv6_nh", 8),
    f("ipv6_hl", 8),
    f("ipv6_src", 128),
    f("ipv6_dst", 128),
];
/// TCP fields.
pub const TCP_FIELDS: &[Field] = &[
    f("tcp_sprt", 16),
    f("tcp_dprt", 16),
    f("tcp_seq", 32),
    f("tcp_ackn", 32),
    f("tcp_doff", 4),
    f("tcp_res", 3),
    f("tcp_ns", 1),
    f("tcp_cwr", 1),
    f("tcp_ece", 1),
    f("tcp_urg", 1),
    f("tcp_ackf", 1),
    f("tcp_psh", 1),
    f("tcp_rst", 1),
    f("tcp_syn", 1),
    f("tcp_fin", 1),
    f("tcp_wsize", 16),
    f("tcp_cksum", 16),
    f("tcp_urp", 16),
    f("tcp_opt", 320),
];
/// UDP fields.
pub const UDP_FIELDS: &[Field] = &[
    f("udp_sport", 16),
    f("udp_dport", 16),
    f("udp_len", 16),
    f("udp_cksum", 16),
];
/// ICMP fields.
pub const ICMP_FIELDS: &[Field] = &[
    f("icmp_type", 8),
    f("icmp_code", 8),
    f("icmp_cksum", 16),
    f("icmp_roh", 32),
];

impl Block {
    /// The fields of this block (payload has none; its columns are `payload_bit_<i>`).
    pub fn fields(self) -> &'static [Field] {
        match self {
            Block::Eth => ETH_FIELDS,
            Block::Ipv4 => IPV4_FIELDS,
            Block::Ipv6 => IPV6_FIELDS,
            Block::Tcp => TCP_FIELDS,
            Block::Udp => UDP_FIELDS,
            Block::Icmp => ICMP_FIELDS,
            Block::Payload => &[],
        }
    }

    /// Width of the block in bytes (payload: 0, its width is a layout setting).
    pub fn bytes(self) -> usize {
        match self {
            Block::Eth => 14,
            Block::Ipv4 => 60,
            Block::Ipv6 => 40,
            Block::Tcp => 60,
            Block::Udp => 8,
            Block::Icmp => 8,
            Block::Payload => 0,
        }
    }

    /// The block a column prefix such as `tcp_seq` or `payload_bit` belongs to.
    pub fn of_prefix(prefix: &str) -> Option<Block> {
        if prefix == "payload_bit" {
            return Some(Block::Payload);
        }
        Block::HEADERS
            .into_iter()
            .find(|b| b.fields().iter().any(|f| f.name == prefix))
    }
}

/// Which blocks a row holds: the nPrint tool's `-e -4 -6 -t -u -i -p N` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Layout {
    /// Ethernet block (`-e`).
    pub eth: bool,
    /// IPv4 block (`-4`).
    pub ipv4: bool,
    /// IPv6 block (`-6`).
    pub ipv6: bool,
    /// TCP block (`-t`).
    pub tcp: bool,
    /// UDP block (`-u`).
    pub udp: bool,
    /// ICMP block (`-i`).
    pub icmp: bool,
    /// Payload bytes (`-p N`).
    pub payload_bytes: usize,
}

impl Layout {
    /// netdiffd's standard packet layout, `-4 -t -u -i`: 1088 bits.
    pub const STANDARD: Layout = Layout {
        eth: false,
        ipv4: true,
        ipv6: false,
        tcp: true,
        udp: true,
        icmp: true,
        payload_bytes: 0,
    };
    /// The option set NetDiffusion used, `-4 -6 -t -u -i -p 0`: 1408 bits.
    pub const NETDIFFUSION: Layout = Layout {
        ipv6: true,
        ..Layout::STANDARD
    };

    /// The enabled blocks in emission order.
    pub fn blocks(&self) -> Vec<Block> {
        self.block_iter().collect()
    }

    /// The enabled blocks in emission order, without allocating.
    pub fn block_iter(&self) -> impl Iterator<Item = Block> {
        [
            (self.eth, Block::Eth),
            (self.ipv4, Block::Ipv4),
            (self.ipv6, Block::Ipv6),
            (self.tcp, Block::Tcp),
            (self.udp, Block::Udp),
            (self.icmp, Block::Icmp),
            (self.payload_bytes > 0, Block::Payload),
        ]
        .into_iter()
        .filter_map(|(on, b)| on.then_some(b))
    }

    /// Width of a block in bits under this layout.
    pub fn block_bits(&self, b: Block) -> usize {
        match b {
            Block::Payload => self.payload_bytes * 8,
            other => other.bytes() * 8,
        }
    }

    /// Bits per row.
    pub fn width(&self) -> usize {
        self.blocks().into_iter().map(|b| self.block_bits(b)).sum()
    }

    /// Bit offset of block `b` within a row, if the layout has it.
    pub fn offset(&self, b: Block) -> Option<usize> {
        let mut at = 0;
        for x in self.blocks() {
            if x == b {
                return Some(at);
            }
            at += self.block_bits(x);
        }
        None
    }

    /// The bit column names, `<field>_<i>`, in order.
    pub fn column_names(&self) -> Vec<String> {
        let mut v = Vec::with_capacity(self.width());
        for b in self.blocks() {
            if b == Block::Payload {
                v.extend((0..self.payload_bytes * 8).map(|i| format!("payload_bit_{i}")));
            }
            for fd in b.fields() {
                v.extend((0..fd.bits).map(|i| format!("{}_{i}", fd.name)));
            }
        }
        v
    }
}

/// Bit offset and width of a named field within its block.
pub fn field_in_block(block: Block, name: &str) -> Option<(usize, usize)> {
    let mut at = 0;
    for fd in block.fields() {
        if fd.name == name {
            return Some((at, fd.bits));
        }
        at += fd.bits;
    }
    None
}

/// Width of NetDiffusion's image layout: IPv4 without addresses, IPv6 fixed fields without
/// addresses, TCP, UDP, ICMP.
pub const NETDIFFUSION_IMAGE_WIDTH: usize = 416 + 64 + 480 + 64 + 64;
/// Rows of a NetDiffusion image (packets, padded with vacant rows).
pub const NETDIFFUSION_IMAGE_ROWS: usize = 1024;
/// Width of netdiffd's model layout: IPv4 without addresses, TCP, UDP, ICMP.
pub const MODEL_WIDTH: usize = 416 + 480 + 64 + 64;

/// Bit ranges of the standard layout's address fields (`ipv4_src`, `ipv4_dst`).
const STD_ADDR_START: usize = 96;
const STD_ADDR_END: usize = 160;
/// Width of the standard layout.
pub const STANDARD_WIDTH: usize = 1088;

/// Maps a standard-layout row (1088 bits, [`Layout::STANDARD`]) to the model layout (1024),
/// dropping the IPv4 addresses.
pub fn standard_to_model(std_row: &[Bit], out: &mut Vec<Bit>) {
    debug_assert_eq!(std_row.len(), STANDARD_WIDTH);
    out.extend_from_slice(&std_row[..STD_ADDR_START]);
    out.extend_from_slice(&std_row[STD_ADDR_END..]);
}

/// Maps a model-layout row (1024) back to the standard layout with vacant addresses.
pub fn model_to_standard(model_row: &[Bit], out: &mut Vec<Bit>) {
    debug_assert_eq!(model_row.len(), MODEL_WIDTH);
    out.extend_from_slice(&model_row[..STD_ADDR_START]);
    out.resize(out.len() + (STD_ADDR_END - STD_ADDR_START), VACANT);
    out.extend_from_slice(&model_row[STD_ADDR_START..]);
}

/// Maps a NetDiffusion image row (1088: IPv4 w/o addresses, IPv6 fixed fields, TCP, UDP, ICMP)
/// to the model layout (1024) by dropping the IPv6 fixed fields.
pub fn netdiffusion_image_to_model(img_row: &[Bit], out: &mut Vec<Bit>) {
    debug_assert_eq!(img_row.len(), NETDIFFUSION_IMAGE_WIDTH);
    out.extend_from_slice(&img_row[..416]);
    out.extend_from_slice(&img_row[480..]);
}

/// Maps a model row to NetDiffusion's image layout (IPv6 fixed fields vacant).
pub fn model_to_netdiffusion_image(model_row: &[Bit], out: &mut Vec<Bit>) {
    debug_assert_eq!(model_row.len(), MODEL_WIDTH);
    out.extend_from_slice(&model_row[..416]);
    out.resize(out.len() + 64, VACANT);
    out.extend_from_slice(&model_row[416..]);
}

/// Column names of NetDiffusion's 1088-column image layout, in order.
pub fn netdiffusion_image_columns() -> Vec<String> {
    Layout::NETDIFFUSION
        .column_names()
        .into_iter()
        .filter(|c| {
            !(c.starts_with("ipv4_src_")
                || c.starts_with("ipv4_dst_")
                || c.starts_with("ipv6_src_")
                || c.starts_with("ipv6_dst_"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_match_the_nprint_tool() {
        assert_eq!(Layout::STANDARD.width(), STANDARD_WIDTH);
        assert_eq!(Layout::NETDIFFUSION.width(), 1408);
        assert_eq!(Layout::STANDARD.column_names().len(), 1088);
        for b in Block::HEADERS {
            let sum: usize = b.fields().iter().map(|f| f.bits).sum();
            assert_eq!(sum, b.bytes() * 8, "{b:?}");
        }
        assert_eq!(netdiffusion_image_columns().len(), NETDIFFUSION_IMAGE_WIDTH);
        assert_eq!(
            field_in_block(Block::Ipv4, "ipv4_src"),
            Some((STD_ADDR_START, 32))
        );
        assert_eq!(field_in_block(Block::Ipv4, "ipv4_dst"), Some((128, 32)));
    }

    #[test]
    fn model_mapping_round_trips() {
        let row: Vec<Bit> = (0..STANDARD_WIDTH).map(|i| (i % 3) as i8 - 1).collect();
        let mut m = Vec::new();
        standard_to_model(&row, &mut m);
        assert_eq!(m.len(), MODEL_WIDTH);
        let mut back = Vec::new();
        model_to_standard(&m, &mut back);
        assert_eq!(back.len(), STANDARD_WIDTH);
        assert_eq!(&back[..96], &row[..96]);
        assert!(back[96..160].iter().all(|&b| b == VACANT));
        assert_eq!(&back[160..], &row[160..]);
        let mut img = Vec::new();
        model_to_netdiffusion_image(&m, &mut img);
        let mut m2 = Vec::new();
        netdiffusion_image_to_model(&img, &mut m2);
        assert_eq!(m, m2);
    }

    #[test]
    fn block_of_prefix() {
        assert_eq!(Block::of_prefix("tcp_opt"), Some(Block::Tcp));
        assert_eq!(Block::of_prefix("ipv6_fl"), Some(Block::Ipv6));
        assert_eq!(Block::of_prefix("payload_bit"), Some(Block::Payload));
        assert_eq!(Block::of_prefix("bogus"), None);
    }
}
