//! SIGHUP: re-read the configuration (and the model, when its path, device or files changed)
//! while the API keeps serving. A bad configuration keeps the running one and says why.

use super::logging;
use super::spool;
use super::state::{load_active, Active, Shared};
use std::sync::Arc;
use std::time::SystemTime;

/// Reloads; true when the new configuration is in force.
pub async fn reload(shared: &Arc<Shared>) -> bool {
    shared.notifier.reloading();
    log::info!("reloading {}", shared.config_path.display());
    let sh = Arc::clone(shared);
    let previous = shared.active();
    let loaded = tokio::task::spawn_blocking(move || {
        let (active, model_reloaded) = load_active(&sh.config_path, &sh.overrides, Some(&previous))
            .map_err(|e| e.to_string())?;
        spool::prepare(&active.config.output.spool).map_err(|e| e.to_string())?;
        Ok::<_, String>((active, model_reloaded, previous))
    })
    .await
    .map_err(|e| format!("reload stopped: {e}"))
    .and_then(|r| r);
    let m = &shared.metrics;
    match loaded {
        Ok((active, model_reloaded, previous)) => {
            warn_restart_only(&previous, &active);
            logging::set_level(active.config.log.level);
            if model_reloaded {
                publish_model(shared, &active);
                log::info!(
                    "model {} loaded ({} classes)",
                    active.config.model.path.display(),
                    active.model.card.classes.len()
                );
            }
            m.touch_config(&active.config);
            shared.replace_active(active);
            m.reload_ok.set(1);
            m.reload_ok_time.set(unix_seconds());
            m.reloads.with_label_values(&["success"]).inc();
            log::info!("configuration reloaded");
            shared.notifier.ready("running; configuration reloaded");
            true
        }
        Err(e) => {
            m.reload_ok.set(0);
            m.reloads.with_label_values(&["failure"]).inc();
            log::error!("reload failed, keeping the running configuration: {e}");
            shared.notifier.ready(&format!(
                "running; reload failed, old configuration kept: {e}"
            ));
            false
        }
    }
}

/// Sets the model metrics for the model of `active`.
pub fn publish_model(shared: &Shared, active: &Active) {
    let m = &shared.metrics;
    m.model_info.reset();
    m.model_info
        .with_label_values(&[
            &active.model.card.classes.len().to_string(),
            &active.model.card.weights.params.to_string(),
        ])
        .set(1);
    m.model_loaded.set(1);
    m.touch_classes(active.model.card.classes.iter().map(|c| c.name.as_str()));
    m.build_info.reset();
    m.build_info
        .with_label_values(&[
            env!("CARGO_PKG_VERSION"),
            option_env!("NETDIFFD_REVISION").unwrap_or("unknown"),
            &active.device_name(),
        ])
        .set(1);
}

fn warn_restart_only(old: &Active, new: &Active) {
    let (o, n) = (&old.config, &new.config);
    for (key, changed) in [
        ("api.listen", o.api.listen != n.api.listen),
        ("metrics.listen", o.metrics.listen != n.metrics.listen),
        ("metrics.path", o.metrics.path != n.metrics.path),
        (
            "limits.concurrent_jobs",
            o.limits.concurrent_jobs != n.limits.concurrent_jobs,
        ),
    ] {
        if changed {
            log::warn!("{key} changed: it takes effect at the next restart");
        }
    }
}

/// Now, in seconds since the Unix epoch.
pub fn unix_seconds() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
