//! systemd's notification protocol through the `sd-notify` crate: datagrams such as `READY=1`
//! to `$NOTIFY_SOCKET`, and the watchdog interval from `$WATCHDOG_USEC`. Without
//! `$NOTIFY_SOCKET` every call does nothing.

use sd_notify::NotifyState;
use std::time::Duration;

/// Notifications to the service manager, when it gave a socket for them.
#[derive(Debug)]
pub struct Notifier {
    enabled: bool,
}

impl Notifier {
    /// Notifies when `$NOTIFY_SOCKET` is set (the crate reads it at each notification).
    pub fn from_env() -> Notifier {
        Notifier {
            enabled: std::env::var_os("NOTIFY_SOCKET").is_some_and(|s| !s.is_empty()),
        }
    }

    /// A notifier that sends nothing.
    pub fn disabled() -> Notifier {
        Notifier { enabled: false }
    }

    /// True when there is a socket to notify.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Sends one notification (one datagram of `KEY=value` lines); failures are logged,
    /// never fatal.
    fn send(&self, states: &[NotifyState]) {
        if !self.enabled {
            return;
        }
        if let Err(e) = sd_notify::notify(states) {
            log::warn!("sd_notify: cannot send to NOTIFY_SOCKET: {e}");
        }
    }

    /// `READY=1` with a status line.
    pub fn ready(&self, status: &str) {
        self.send(&ready(&one_line(status)));
    }

    /// A status line.
    pub fn status(&self, status: &str) {
        self.send(&[NotifyState::Status(&one_line(status))]);
    }

    /// `RELOADING=1` with the monotonic time systemd asks for (`MONOTONIC_USEC=`).
    pub fn reloading(&self) {
        self.send(&reloading(NotifyState::monotonic_usec_now().ok()));
    }

    /// `STOPPING=1`.
    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
    }

    /// `WATCHDOG=1`.
    pub fn watchdog(&self) {
        self.send(&[NotifyState::Watchdog]);
    }
}

fn ready(status: &str) -> [NotifyState<'_>; 2] {
    [NotifyState::Ready, NotifyState::Status(status)]
}

fn reloading(monotonic: Option<NotifyState<'static>>) -> Vec<NotifyState<'static>> {
    let mut states = vec![NotifyState::Reloading];
    states.extend(monotonic);
    states.push(NotifyState::Status("reloading configuration"));
    states
}

fn one_line(s: &str) -> String {
    s.replace('\n', " ")
}

/// How often to send `WATCHDOG=1`: half of `$WATCHDOG_USEC`, when it is set for this process.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled()
        .filter(|d| !d.is_zero())
        .map(|d| d / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A datagram as the crate writes it: each state on a line of its own.
    fn datagram(states: &[NotifyState]) -> String {
        states.iter().map(|s| format!("{s}\n")).collect()
    }

    #[test]
    fn notifications_say_what_systemd_expects() {
        assert_eq!(
            datagram(&ready(&one_line("up\nand running"))),
            "READY=1\nSTATUS=up and running\n"
        );
        let text = datagram(&reloading(NotifyState::monotonic_usec_now().ok()));
        let usec: u64 = text
            .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
            .and_then(|t| t.strip_suffix("\nSTATUS=reloading configuration\n"))
            .unwrap_or_else(|| panic!("{text}"))
            .parse()
            .unwrap();
        assert!(usec > 0);
        assert_eq!(datagram(&[NotifyState::Watchdog]), "WATCHDOG=1\n");
        assert!(!Notifier::disabled().enabled());
    }
}
