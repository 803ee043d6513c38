//! Signals: SIGTERM and SIGINT stop the daemon gracefully (a second one exits at once), SIGHUP
//! reloads the configuration.

use super::reload::reload;
use super::state::Shared;
use futures_util::StreamExt;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_tokio::{Handle, Signals};
use std::sync::Arc;

/// Starts handling signals; the returned handle stops it.
pub fn spawn(shared: Arc<Shared>) -> std::io::Result<(Handle, tokio::task::JoinHandle<()>)> {
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    let handle = signals.handle();
    let task = tokio::spawn(async move {
        while let Some(signal) = signals.next().await {
            let name = match signal {
                SIGHUP => "SIGHUP",
                SIGINT => "SIGINT",
                _ => "SIGTERM",
            };
            if signal == SIGHUP {
                if shared.stop.is_cancelled() {
                    log::info!("SIGHUP ignored: stopping");
                } else {
                    reload(&shared).await;
                }
            } else if shared.stop.is_cancelled() {
                log::warn!("{name} again while stopping: exiting now");
                std::process::exit(1);
            } else {
                log::info!("{name}: stopping (replays stop at a packet boundary)");
                shared.begin_stop();
            }
        }
    });
    Ok((handle, task))
}
