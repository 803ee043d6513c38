//! An AF_XDP socket for sending, in copy mode: frames are written into a shared memory area
//! (the UMEM), described on a transmit ring, and handed to the driver by the kernel without a
//! socket message per frame; a completion ring gives the frame buffers back. Copy mode works on
//! every interface (the kernel builds the socket buffer itself), so no driver support and no XDP
//! program are needed. Every `unsafe` block of the sender lives here, behind safe methods.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};

/// A memory mapping this module owns; unmapped on drop.
#[derive(Debug)]
struct Mapping {
    ptr: *mut u8,
    len: usize,
}

impl Mapping {
    /// Anonymous, zeroed, page-aligned memory, faulted in up front.
    fn anonymous(len: usize) -> io::Result<Mapping> {
        // SAFETY: an anonymous private mapping with no address hint touches no existing memory;
        // the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        Mapping::checked(ptr, len)
    }

    /// One of the socket's rings, shared with the kernel.
    fn ring(fd: &OwnedFd, len: usize, offset: u64) -> io::Result<Mapping> {
        let offset = libc::off_t::try_from(offset)
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: maps `len` bytes of the socket's ring at the offset the kernel defines for it;
        // no existing memory is touched and the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd.as_raw_fd(),
                offset,
            )
        };
        Mapping::checked(ptr, len)
    }

    fn checked(ptr: *mut libc::c_void, len: usize) -> io::Result<Mapping> {
        if ptr == libc::MAP_FAILED {
            Err(io::Error::last_os_error())
        } else {
            Ok(Mapping {
                ptr: ptr.cast(),
                len,
            })
        }
    }

    /// The ring index at byte `offset` of the mapping, as the kernel shares it.
    fn index_at(&self, offset: u64) -> *const AtomicU32 {
        debug_assert!(offset as usize + 4 <= self.len);
        // SAFETY: the kernel's offsets lie inside the mapping (checked against its length when
        // the ring was mapped) and are 4-byte aligned.
        unsafe { self.ptr.add(offset as usize).cast::<AtomicU32>() }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned, and nothing borrows the mapping
        // once its owner is dropped.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// The kernel's byte offsets inside one ring mapping.
#[derive(Debug, Clone, Copy)]
struct RingOffsets {
    producer: u64,
    consumer: u64,
    desc: u64,
}

impl RingOffsets {
    fn from(o: &libc::xdp_ring_offset) -> RingOffsets {
        RingOffsets {
            producer: o.producer,
            consumer: o.consumer,
            desc: o.desc,
        }
    }

    fn mapping_len(&self, entries: u32, entry_size: usize) -> usize {
        self.desc as usize + entries as usize * entry_size
    }
}

/// A copy-mode AF_XDP socket bound to queue 0 of one interface, with a transmit ring and a
/// UMEM of `frames` buffers of `frame_size` bytes.
#[derive(Debug)]
pub(crate) struct XdpSocket {
    // Field order is drop order: the socket closes before its rings and UMEM are unmapped.
    fd: OwnedFd,
    umem: Mapping,
    tx: Mapping,
    cq: Mapping,
    tx_off: RingOffsets,
    cq_off: RingOffsets,
    frame_size: u32,
    frames: u32,
    /// Our producer index of the transmit ring (published by [`Self::publish`]).
    tx_head: u32,
    /// Our consumer index of the completion ring.
    cq_tail: u32,
}

// SAFETY: the raw pointers inside point into mappings this value owns exclusively; moving the
// value to another thread moves that ownership with it.
unsafe impl Send for XdpSocket {}

const DESC_SIZE: usize = std::mem::size_of::<libc::xdp_desc>();

impl XdpSocket {
    /// Opens a socket on interface `ifindex` with `frames` buffers (a power of two) of
    /// `frame_size` bytes (2048 or 4096). Fails with the kernel's error where AF_XDP is missing
    /// (EAFNOSUPPORT), not permitted (EPERM: CAP_NET_RAW; ENOBUFS: locked-memory limit) or the
    /// interface refuses the binding.
    pub(crate) fn open(ifindex: u32, frame_size: u32, frames: u32) -> io::Result<XdpSocket> {
        if !frames.is_power_of_two() || !matches!(frame_size, 2048 | 4096) {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let fd = super::sys::new_socket(libc::AF_XDP, libc::SOCK_RAW)?;
        let umem = Mapping::anonymous(frames as usize * frame_size as usize)?;
        let reg = libc::xdp_umem_reg {
            addr: umem.ptr as u64,
            len: umem.len as u64,
            chunk_size: frame_size,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        set_option(&fd, libc::XDP_UMEM_REG, &reg)?;
        // The fill ring is for receiving; the kernel still wants one before binding.
        set_option(&fd, libc::XDP_UMEM_FILL_RING, &frames)?;
        set_option(&fd, libc::XDP_UMEM_COMPLETION_RING, &frames)?;
        set_option(&fd, libc::XDP_TX_RING, &frames)?;
        let off = mmap_offsets(&fd)?;
        let tx_off = RingOffsets::from(&off.tx);
        let cq_off = RingOffsets::from(&off.cr);
        let tx = Mapping::ring(
            &fd,
            tx_off.mapping_len(frames, DESC_SIZE),
            libc::XDP_PGOFF_TX_RING as u64,
        )?;
        let cq = Mapping::ring(
            &fd,
            cq_off.mapping_len(frames, 8),
            libc::XDP_UMEM_PGOFF_COMPLETION_RING,
        )?;
        let addr = libc::sockaddr_xdp {
            sxdp_family: libc::AF_XDP as u16,
            sxdp_flags: libc::XDP_COPY,
            sxdp_ifindex: ifindex,
            sxdp_queue_id: 0,
            sxdp_shared_umem_fd: 0,
        };
        super::sys::bind_socket(&fd, &addr)?;
        let mut socket = XdpSocket {
            fd,
            umem,
            tx,
            cq,
            tx_off,
            cq_off,
            frame_size,
            frames,
            tx_head: 0,
            cq_tail: 0,
        };
        socket.tx_head = socket.tx_producer().load(Ordering::Relaxed);
        socket.cq_tail = socket.cq_consumer().load(Ordering::Relaxed);
        Ok(socket)
    }

    /// Bytes one buffer holds: the longest frame that can be sent.
    pub(crate) fn frame_size(&self) -> u32 {
        self.frame_size
    }

    /// Number of buffers, and of transmit-ring entries.
    pub(crate) fn frames(&self) -> u32 {
        self.frames
    }

    fn tx_producer(&self) -> &AtomicU32 {
        // SAFETY: the index lives in the transmit ring mapping, which outlives `&self`.
        unsafe { &*self.tx.index_at(self.tx_off.producer) }
    }

    fn tx_consumer(&self) -> &AtomicU32 {
        // SAFETY: as above.
        unsafe { &*self.tx.index_at(self.tx_off.consumer) }
    }

    fn cq_producer(&self) -> &AtomicU32 {
        // SAFETY: the index lives in the completion ring mapping, which outlives `&self`.
        unsafe { &*self.cq.index_at(self.cq_off.producer) }
    }

    fn cq_consumer(&self) -> &AtomicU32 {
        // SAFETY: as above.
        unsafe { &*self.cq.index_at(self.cq_off.consumer) }
    }

    /// Descriptors queued (published or not) that the kernel has not taken yet.
    pub(crate) fn tx_outstanding(&self) -> u32 {
        self.tx_head
            .wrapping_sub(self.tx_consumer().load(Ordering::Acquire))
    }

    /// Copies `frame` into buffer `slot` and queues its descriptor; the kernel sees it after
    /// [`Self::publish`]. False (nothing queued) when the slot is out of range, the frame does
    /// not fit a buffer or the ring is full.
    pub(crate) fn queue(&mut self, slot: u32, frame: &[u8]) -> bool {
        if slot >= self.frames
            || frame.len() > self.frame_size as usize
            || self.tx_outstanding() >= self.frames
        {
            return false;
        }
        let addr = u64::from(slot) * u64::from(self.frame_size);
        // SAFETY: `slot < frames`, so the buffer lies inside the UMEM, and the frame fits it;
        // the caller only queues buffers the kernel has given back (or never had).
        unsafe {
            std::ptr::copy_nonoverlapping(
                frame.as_ptr(),
                self.umem.ptr.add(addr as usize),
                frame.len(),
            );
        }
        let index = (self.tx_head & (self.frames - 1)) as usize;
        let desc = libc::xdp_desc {
            addr,
            len: frame.len() as u32,
            options: 0,
        };
        // SAFETY: the entry lies inside the ring mapping (index < entries) and the kernel does
        // not read it before the producer index moves past it.
        unsafe {
            let base = self.tx.ptr.add(self.tx_off.desc as usize);
            std::ptr::write_unaligned(base.cast::<libc::xdp_desc>().add(index), desc);
        }
        self.tx_head = self.tx_head.wrapping_add(1);
        true
    }

    /// Makes the queued descriptors visible to the kernel.
    pub(crate) fn publish(&self) {
        self.tx_producer().store(self.tx_head, Ordering::Release);
    }

    /// Asks the kernel to send what is on the transmit ring (it takes a bounded number of
    /// descriptors per call and says EAGAIN when more are left).
    pub(crate) fn kick(&self) -> io::Result<()> {
        // SAFETY: sendto with no buffer and no address only wakes the socket's transmit path.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Takes the buffers the kernel is done with off the completion ring, appending their slot
    /// numbers to `free`; returns how many.
    pub(crate) fn reap(&mut self, free: &mut Vec<u32>) -> u32 {
        let produced = self.cq_producer().load(Ordering::Acquire);
        let n = produced.wrapping_sub(self.cq_tail);
        if n == 0 {
            return 0;
        }
        // SAFETY: the entry area lies inside the completion ring mapping.
        let base = unsafe { self.cq.ptr.add(self.cq_off.desc as usize).cast::<u64>() };
        for k in 0..n {
            let index = (self.cq_tail.wrapping_add(k) & (self.frames - 1)) as usize;
            // SAFETY: index < entries; the kernel wrote the entry before moving the producer
            // index past it (acquire load above).
            let addr = unsafe { std::ptr::read_unaligned(base.add(index)) };
            free.push((addr / u64::from(self.frame_size)) as u32);
        }
        self.cq_tail = produced;
        self.cq_consumer().store(produced, Ordering::Release);
        n
    }
}

fn set_option<T>(fd: &OwnedFd, name: i32, value: &T) -> io::Result<()> {
    super::sys::set_socket_option(fd, libc::SOL_XDP, name, value)
}

fn mmap_offsets(fd: &OwnedFd) -> io::Result<libc::xdp_mmap_offsets> {
    // SAFETY: xdp_mmap_offsets is plain old data; all-zero is a valid value.
    let mut off: libc::xdp_mmap_offsets = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::xdp_mmap_offsets>() as libc::socklen_t;
    // SAFETY: `off` is writable for `len` bytes, and `len` is updated by the kernel.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_XDP,
            libc::XDP_MMAP_OFFSETS,
            (&mut off as *mut libc::xdp_mmap_offsets).cast::<libc::c_void>(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    if len as usize != std::mem::size_of::<libc::xdp_mmap_offsets>() {
        // Kernels before 5.4 use a shorter layout without the flags field.
        return Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP));
    }
    Ok(off)
}
