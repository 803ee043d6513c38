//! The operating-system calls the replay engine needs and std does not offer: the monotonic
//! clock in integer nanoseconds, absolute-deadline sleep, the thread's timer slack, and an
//! AF_PACKET socket with batched send (`sendmmsg`). Every `unsafe` block of the crate lives here,
//! behind safe functions.
#![allow(unsafe_code)]

use std::io;

const NS_PER_SEC: u64 = 1_000_000_000;

/// Clock `clock` (a constant clock id that exists on every supported system), in nanoseconds.
fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call, and the clock
    // exists, so the call cannot fail.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(NS_PER_SEC)
        .saturating_add(ts.tv_nsec as u64)
}

/// Now on `CLOCK_MONOTONIC`, in nanoseconds.
pub(crate) fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// Sleeps until `CLOCK_MONOTONIC` reads at least `deadline_ns` (an absolute deadline, so a
/// signal or a late wake-up never shifts later deadlines).
#[cfg(target_os = "linux")]
pub(crate) fn sleep_until_ns(deadline_ns: u64) {
    let ts = libc::timespec {
        tv_sec: (deadline_ns / NS_PER_SEC) as libc::time_t,
        tv_nsec: (deadline_ns % NS_PER_SEC) as libc::c_long,
    };
    loop {
        // SAFETY: `ts` is a valid timespec; with TIMER_ABSTIME the remaining-time pointer is
        // not used and may be null.
        let rc = unsafe {
            libc::clock_nanosleep(
                libc::CLOCK_MONOTONIC,
                libc::TIMER_ABSTIME,
                &ts,
                std::ptr::null_mut(),
            )
        };
        if rc != libc::EINTR {
            return;
        }
    }
}

/// Sleeps until `CLOCK_MONOTONIC` reads at least `deadline_ns` (relative sleep where the
/// absolute one is missing; the caller re-reads the clock and spins the rest).
#[cfg(not(target_os = "linux"))]
pub(crate) fn sleep_until_ns(deadline_ns: u64) {
    let now = monotonic_ns();
    if deadline_ns > now {
        std::thread::sleep(std::time::Duration::from_nanos(deadline_ns - now));
    }
}

/// The calling thread's timer slack in nanoseconds (how late the kernel may fire its timers).
#[cfg(target_os = "linux")]
pub(crate) fn timer_slack_ns() -> Option<u64> {
    // SAFETY: PR_GET_TIMERSLACK takes no pointer arguments and returns the slack or -1.
    let rc = unsafe { libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0) };
    u64::try_from(rc).ok()
}

/// Sets the calling thread's timer slack; false if the kernel refused.
#[cfg(target_os = "linux")]
pub(crate) fn set_timer_slack_ns(ns: u64) -> bool {
    let ns = libc::c_ulong::try_from(ns.max(1)).unwrap_or(libc::c_ulong::MAX);
    // SAFETY: PR_SET_TIMERSLACK takes the slack by value; no memory is passed.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, ns, 0, 0, 0) == 0 }
}

/// Timer slack is a Linux setting; elsewhere there is none to read.
#[cfg(not(target_os = "linux"))]
pub(crate) fn timer_slack_ns() -> Option<u64> {
    None
}

/// Timer slack is a Linux setting; elsewhere nothing is set.
#[cfg(not(target_os = "linux"))]
pub(crate) fn set_timer_slack_ns(_ns: u64) -> bool {
    false
}

/// The calling thread's scheduling policy and priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SchedState {
    policy: i32,
    priority: i32,
}

/// Reads the calling thread's scheduling policy and priority.
#[cfg(target_os = "linux")]
pub(crate) fn sched_state() -> Option<SchedState> {
    // SAFETY: sched_getscheduler takes a thread id (0: the caller) and no memory.
    let policy = unsafe { libc::sched_getscheduler(0) };
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid, writable sched_param for the duration of the call.
    let rc = unsafe { libc::sched_getparam(0, &mut param) };
    (policy >= 0 && rc == 0).then_some(SchedState {
        policy,
        priority: param.sched_priority,
    })
}

/// Puts the calling thread under SCHED_FIFO at `priority`; the error says why not (EPERM
/// without CAP_SYS_NICE).
#[cfg(target_os = "linux")]
pub(crate) fn set_realtime(priority: i32) -> io::Result<()> {
    set_sched(SchedState {
        policy: libc::SCHED_FIFO,
        priority,
    })
}

/// Restores a state read by [`sched_state`].
#[cfg(target_os = "linux")]
pub(crate) fn set_sched(state: SchedState) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: state.priority,
    };
    // SAFETY: `param` is a valid sched_param; with thread id 0 only the caller changes.
    if unsafe { libc::sched_setscheduler(0, state.policy, &param) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Scheduling policies are left alone where Linux's calls are missing.
#[cfg(not(target_os = "linux"))]
pub(crate) fn sched_state() -> Option<SchedState> {
    None
}

/// Realtime scheduling is only asked for on Linux.
#[cfg(not(target_os = "linux"))]
pub(crate) fn set_realtime(_priority: i32) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Nothing to restore where nothing was changed.
#[cfg(not(target_os = "linux"))]
pub(crate) fn set_sched(_state: SchedState) -> io::Result<()> {
    Ok(())
}

/// CPU time (user + system) the calling thread has used, in nanoseconds.
pub(crate) fn thread_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

#[cfg(target_os = "linux")]
pub(crate) use packet_socket::{interface_facts, PacketSocket, MAX_BATCH};

#[cfg(target_os = "linux")]
mod packet_socket {
    use std::io;
    use std::os::fd::{AsRawFd, OwnedFd};

    /// What the kernel says about one interface of the calling thread's network namespace.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct IfFacts {
        pub(crate) index: u32,
        pub(crate) mtu: u32,
        pub(crate) flags: u32,
        pub(crate) hw_type: u16,
        pub(crate) hw_addr: [u8; 6],
    }

    /// Reads index, MTU, flags and hardware address of interface `name` with the SIOCGIF*
    /// ioctls (these follow the thread's network namespace, unlike /sys/class/net, which
    /// follows the mount namespace). `name` must be shorter than IFNAMSIZ.
    pub(crate) fn interface_facts(name: &str) -> io::Result<IfFacts> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
            return Err(io::Error::from_raw_os_error(libc::ENODEV));
        }
        let fd = super::new_socket(libc::AF_INET, libc::SOCK_DGRAM)?;
        // SAFETY: ifreq is plain old data; all-zero is a valid value.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
            *dst = src as libc::c_char;
        }
        let mut ask = |request| {
            // SAFETY: `req` is a valid ifreq with a NUL-terminated name (it was zeroed and the
            // name is shorter than the field); these SIOCGIF* requests only write into it.
            let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request, &mut req) };
            if rc < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(req)
            }
        };
        // SAFETY (the union reads below): each field read is the one its request filled in.
        let index = unsafe { ask(libc::SIOCGIFINDEX)?.ifr_ifru.ifru_ifindex };
        let mtu = unsafe { ask(libc::SIOCGIFMTU)?.ifr_ifru.ifru_mtu };
        let flags = unsafe { ask(libc::SIOCGIFFLAGS)?.ifr_ifru.ifru_flags };
        let hw = unsafe { ask(libc::SIOCGIFHWADDR)?.ifr_ifru.ifru_hwaddr };
        let mut hw_addr = [0u8; 6];
        for (dst, src) in hw_addr.iter_mut().zip(hw.sa_data.iter()) {
            *dst = *src as u8;
        }
        Ok(IfFacts {
            index: index as u32,
            mtu: mtu as u32,
            flags: u32::from(flags as u16),
            hw_type: hw.sa_family,
            hw_addr,
        })
    }

    /// Most frames handed to one `sendmmsg` call.
    pub(crate) const MAX_BATCH: usize = 256;

    /// An AF_PACKET raw socket bound to one interface, for sending whole link-layer frames.
    /// It is bound with protocol 0, so the kernel queues nothing for it to receive.
    #[derive(Debug)]
    pub(crate) struct PacketSocket {
        fd: OwnedFd,
    }

    impl PacketSocket {
        /// Opens a packet socket and binds it to interface `ifindex`.
        pub(crate) fn open(ifindex: u32) -> io::Result<PacketSocket> {
            let fd = super::new_socket(libc::AF_PACKET, libc::SOCK_RAW)?;
            // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            sll.sll_family = libc::AF_PACKET as libc::c_ushort;
            sll.sll_protocol = 0;
            sll.sll_ifindex =
                i32::try_from(ifindex).map_err(|_| io::Error::from_raw_os_error(libc::ENODEV))?;
            super::bind_socket(&fd, &sll)?;
            Ok(PacketSocket { fd })
        }

        /// Sets an integer socket option.
        pub(crate) fn set_option(&self, level: i32, name: i32, value: i32) -> io::Result<()> {
            super::set_socket_option(&self.fd, level, name, &value)
        }

        /// Sends up to [`MAX_BATCH`] frames with one `sendmmsg`; returns how many the kernel took
        /// (at least one), or the error of the first frame.
        pub(crate) fn send_batch(&self, frames: &[&[u8]]) -> io::Result<usize> {
            let n = frames.len().min(MAX_BATCH);
            if n == 0 {
                return Ok(0);
            }
            // SAFETY: iovec and mmsghdr are plain old data; all-zero is a valid value of each.
            let mut iovs: [libc::iovec; MAX_BATCH] = unsafe { std::mem::zeroed() };
            // SAFETY: as above.
            let mut msgs: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
            for i in 0..n {
                iovs[i].iov_base = frames[i].as_ptr() as *mut libc::c_void;
                iovs[i].iov_len = frames[i].len();
                msgs[i].msg_hdr.msg_iov = &mut iovs[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
            }
            loop {
                // SAFETY: the first `n` headers point at `iovs`, which point at the borrowed
                // frames; all of them outlive the call, and the kernel only reads the frames.
                let rc = unsafe {
                    libc::sendmmsg(self.fd.as_raw_fd(), msgs.as_mut_ptr(), n as libc::c_uint, 0)
                };
                if rc >= 0 {
                    return Ok(rc as usize);
                }
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

/// A new close-on-exec socket of `domain` and `kind` (protocol 0), owned.
#[cfg(target_os = "linux")]
pub(crate) fn new_socket(domain: i32, kind: i32) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket(2) call with integer arguments; the result is checked.
    let raw = unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a freshly created descriptor that nothing else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) })
}

/// Binds `fd` to `addr`, a socket address structure of the socket's family (`sockaddr_ll`,
/// `sockaddr_xdp`, ...).
#[cfg(target_os = "linux")]
pub(crate) fn bind_socket<A>(fd: &std::os::fd::OwnedFd, addr: &A) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: `addr` is valid for reads of its whole size, which is the length passed; the
    // kernel only reads it (and refuses a structure of the wrong family or size).
    checked(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (addr as *const A).cast::<libc::sockaddr>(),
            std::mem::size_of::<A>() as libc::socklen_t,
        )
    })
}

/// Sets socket option `name` of `level` to `value` (an integer or an option structure).
#[cfg(target_os = "linux")]
pub(crate) fn set_socket_option<T>(
    fd: &std::os::fd::OwnedFd,
    level: i32,
    name: i32,
    value: &T,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: `value` is valid for reads of its whole size, which is the length passed; the
    // kernel only reads it.
    checked(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast::<libc::c_void>(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })
}

/// Ok for a system call's non-negative result, else the thread's errno.
#[cfg(target_os = "linux")]
fn checked(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The raw OS error number of an I/O error (0 when it has none).
pub(crate) fn errno_of(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}
