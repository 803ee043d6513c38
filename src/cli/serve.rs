//! `netdiffd serve`: the daemon (see docs/service.md).

use anyhow::Context;
use netdiffd::service::{self, logging, ServeOptions};
use std::path::PathBuf;
use std::time::Duration;

/// Options of `netdiffd serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Configuration file (TOML); `NETDIFFD_<SECTION>__<KEY>` variables override its keys.
    #[arg(short, long, default_value = "/etc/netdiffd/netdiffd.toml")]
    pub config: PathBuf,
    /// API listen address (overrides `[api] listen`).
    #[arg(long)]
    pub listen: Option<String>,
    /// Spool directory (overrides `[output] spool`).
    #[arg(long)]
    pub spool: Option<PathBuf>,
    /// Check the configuration and the model it names, then exit.
    #[arg(long)]
    pub check: bool,
}

/// Runs `netdiffd serve`.
pub fn run(a: &ServeArgs) -> anyhow::Result<i32> {
    logging::init(log::LevelFilter::Info);
    let mut overrides = Vec::new();
    if let Some(l) = &a.listen {
        overrides.push(("api.listen".to_string(), l.clone()));
    }
    if let Some(s) = &a.spool {
        overrides.push(("output.spool".to_string(), s.display().to_string()));
    }
    let opts = ServeOptions {
        config: a.config.clone(),
        overrides,
    };
    if a.check {
        println!("{}", service::check(&opts)?);
        return Ok(0);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("netdiffd")
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(service::serve(opts));
    // A generation batch still running on a blocking thread holds nothing that must be
    // finished (it writes no file), so do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(100));
    result?;
    Ok(0)
}
