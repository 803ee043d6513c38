//! Stage 8, the daemon (`netdiffd serve`): loads the model once and keeps it resident, runs
//! jobs (generate a class mix → repair → write a pcap → replay) from the HTTP API and from
//! schedules through a bounded queue, exports Prometheus metrics, and follows systemd's
//! conventions (notify readiness, reload on SIGHUP, watchdog, graceful stop). See
//! `docs/service.md`.

pub mod api;
pub mod config;
pub mod generation;
pub mod jobs;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod reload;
pub mod replay_job;
pub mod request;
pub mod runner;
pub mod scheduler;
pub mod signals;
pub mod spool;
pub mod state;
pub mod validate;

use state::{load_active, LoadError, Shared};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

/// How `netdiffd serve` was started.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The configuration file.
    pub config: PathBuf,
    /// Keys set on the command line (`api.listen` …), above the file and the environment.
    pub overrides: Vec<(String, String)>,
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The configuration, model or token is unusable.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The spool directory is unusable.
    #[error(transparent)]
    Spool(#[from] spool::SpoolError),
    /// A listener could not be opened.
    #[error("cannot listen on {addr} (key `{key}`): {error}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The key it comes from.
        key: &'static str,
        /// The cause.
        error: std::io::Error,
    },
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    /// The metrics could not be set up.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// A startup task stopped unexpectedly.
    #[error("startup: {0}")]
    Startup(String),
}

/// Checks a configuration the way `serve` would load it (model included), without serving.
pub fn check(opts: &ServeOptions) -> Result<String, ServiceError> {
    let (active, _) = load_active(&opts.config, &opts.overrides, None)?;
    Ok(format!(
        "{}: valid; model {} ({} classes on {}), API on {}, {} schedule(s)",
        opts.config.display(),
        active.config.model.path.display(),
        active.model.card.classes.len(),
        active.device_name(),
        active.config.api.listen,
        active.config.schedule.iter().filter(|s| s.enabled).count()
    ))
}

/// Runs the daemon until SIGTERM or SIGINT; returns once it has stopped.
pub async fn serve(opts: ServeOptions) -> Result<(), ServiceError> {
    let notifier = notify::Notifier::from_env();
    notifier.status("loading configuration and model");
    let metrics = metrics::Metrics::new()?;
    let o = opts.clone();
    let (active, _) =
        tokio::task::spawn_blocking(move || load_active(&o.config, &o.overrides, None))
            .await
            .map_err(|e| ServiceError::Startup(e.to_string()))??;
    logging::set_level(active.config.log.level);
    spool::prepare(&active.config.output.spool)?;
    let cfg = active.config.clone();
    log::info!(
        "model {} loaded: {} classes on {}",
        cfg.model.path.display(),
        active.model.card.classes.len(),
        active.device_name()
    );
    let api_listener =
        TcpListener::bind(cfg.api.listen)
            .await
            .map_err(|error| ServiceError::Listen {
                addr: cfg.api.listen,
                key: "api.listen",
                error,
            })?;
    let metrics_listener = match cfg.metrics.listen {
        None => None,
        Some(addr) => {
            Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|error| ServiceError::Listen {
                        addr,
                        key: "metrics.listen",
                        error,
                    })?,
            )
        }
    };
    let shared = Arc::new(Shared::new(
        opts.config.clone(),
        opts.overrides.clone(),
        active,
        metrics,
        notifier,
    ));
    reload::publish_model(&shared, &shared.active());
    shared.metrics.touch_config(&cfg);
    shared.metrics.reload_ok.set(1);
    shared.metrics.reload_ok_time.set(reload::unix_seconds());
    let (signal_handle, signal_task) =
        signals::spawn(Arc::clone(&shared)).map_err(ServiceError::Signals)?;

    let tracker = TaskTracker::new();
    let dispatcher = tokio::spawn(runner::dispatch(
        Arc::clone(&shared),
        cfg.limits.concurrent_jobs,
        tracker.clone(),
    ));
    let scheduler = tokio::spawn(scheduler::run(Arc::clone(&shared)));
    let metrics_here = cfg
        .metrics
        .listen
        .is_none()
        .then(|| cfg.metrics.path.clone());
    let mut servers = Vec::new();
    let app = api::router(Arc::clone(&shared), metrics_here, cfg.api.max_body_bytes);
    servers.push(tokio::spawn(serve_http(
        api_listener,
        app,
        Arc::clone(&shared),
    )));
    if let Some(l) = metrics_listener {
        let app = api::metrics_router(Arc::clone(&shared), &cfg.metrics.path);
        servers.push(tokio::spawn(serve_http(l, app, Arc::clone(&shared))));
    }
    let where_metrics = match cfg.metrics.listen {
        Some(a) => format!("http://{a}{}", cfg.metrics.path),
        None => format!("http://{}{}", cfg.api.listen, cfg.metrics.path),
    };
    log::info!(
        "ready: API on http://{}/v1, metrics on {where_metrics}",
        cfg.api.listen
    );
    shared
        .notifier
        .ready(&format!("running; API on {}", cfg.api.listen));

    shared.stop.cancelled().await;
    tracker.close();
    let grace = shared.active().config.limits.stop_timeout;
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        log::warn!(
            "{} job(s) still running after {}: exiting without them",
            tracker.len(),
            humantime::format_duration(grace)
        );
    }
    let _ = dispatcher.await;
    let _ = scheduler.await;
    for s in servers {
        let _ = tokio::time::timeout(Duration::from_secs(1), s).await;
    }
    signal_handle.close();
    let _ = signal_task.await;
    log::info!("stopped");
    Ok(())
}

async fn serve_http(listener: TcpListener, app: axum::Router, shared: Arc<Shared>) {
    let stop = shared.stop.clone();
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
    {
        log::error!("HTTP server: {e}");
        shared.begin_stop();
    }
}
