//! State shared by every task of the daemon: the active configuration with its model (swapped
//! whole on reload), the jobs, the metrics, the stop token and the notifier.

use super::config::{Config, ConfigError};
use super::jobs::Jobs;
use super::metrics::Metrics;
use super::notify::Notifier;
use crate::model::{device_for, load_model, LoadedModel, ModelError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Why a configuration (with its model and token) cannot become active.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The model cannot be loaded.
    #[error("model {path} (key `model.path` in {file}): {error}{}", model_hint(.error))]
    Model {
        /// The model directory.
        path: PathBuf,
        /// The configuration file.
        file: PathBuf,
        /// The cause.
        error: Box<ModelError>,
    },
    /// The API token file cannot be used.
    #[error("API token file {path} (key `api.token_file` in {file}): {why}")]
    Token {
        /// The token file.
        path: PathBuf,
        /// The configuration file.
        file: PathBuf,
        /// What is wrong.
        why: String,
    },
}

fn model_hint(e: &ModelError) -> &'static str {
    match e {
        ModelError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            "; point `model.path` (or NETDIFFD_MODEL__PATH) at a model directory holding \
             card.json and model.safetensors (relative paths start at the working directory)"
        }
        _ => "",
    }
}

/// What identifies a loaded model: reloading re-reads it when any of this changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelKey {
    /// The directory as configured.
    pub path: PathBuf,
    /// The device as configured.
    pub device: String,
    /// Size and modification time of the card and the weights.
    pub files: Vec<(u64, Option<SystemTime>)>,
}

impl ModelKey {
    fn of(path: &Path, device: &str) -> ModelKey {
        let files = [
            crate::model::checkpoint::CARD_FILE,
            crate::model::checkpoint::WEIGHTS_FILE,
        ]
        .iter()
        .map(|f| match std::fs::metadata(path.join(f)) {
            Ok(m) => (m.len(), m.modified().ok()),
            Err(_) => (0, None),
        })
        .collect();
        ModelKey {
            path: path.to_path_buf(),
            device: device.to_string(),
            files,
        }
    }
}

/// A configuration in force, with the model and token it names.
pub struct Active {
    /// The configuration.
    pub config: Config,
    /// The resident model.
    pub model: Arc<LoadedModel>,
    /// What the model was loaded from.
    pub model_key: ModelKey,
    /// The bearer token `/v1` requests must carry.
    pub token: Option<String>,
}

impl Active {
    /// The model device in words (`cpu`, `cuda:0`).
    pub fn device_name(&self) -> String {
        match self.model.device.location() {
            candle_core::DeviceLocation::Cpu => "cpu".into(),
            candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
            candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
        }
    }
}

/// Loads configuration `file` (with `overrides`), the model it names unless `previous` has the
/// same one loaded, and the token; checks the schedules against the model's classes.
/// Blocking: run it off the async threads.
pub fn load_active(
    file: &Path,
    overrides: &[(String, String)],
    previous: Option<&Active>,
) -> Result<(Active, bool), LoadError> {
    let config = Config::load(file, overrides)?;
    let key = ModelKey::of(&config.model.path, &config.model.device);
    let model_err = |error| LoadError::Model {
        path: config.model.path.clone(),
        file: file.to_path_buf(),
        error: Box::new(error),
    };
    let (model, reloaded) = match previous {
        Some(p) if p.model_key == key => (Arc::clone(&p.model), false),
        _ => {
            let device = device_for(&config.model.device).map_err(model_err)?;
            let model = load_model(&config.model.path, &device).map_err(model_err)?;
            (Arc::new(model), true)
        }
    };
    check_against_model(&config, &model, file)?;
    let token = match &config.api.token_file {
        None => None,
        Some(path) => Some(read_token(path).map_err(|why| LoadError::Token {
            path: path.clone(),
            file: file.to_path_buf(),
            why,
        })?),
    };
    Ok((
        Active {
            config,
            model,
            model_key: key,
            token,
        },
        reloaded,
    ))
}

fn check_against_model(
    config: &Config,
    model: &LoadedModel,
    file: &Path,
) -> Result<(), ConfigError> {
    let card = &model.card;
    if config.model.steps > card.config.timesteps {
        return Err(ConfigError::invalid(
            file,
            "model.steps",
            format!(
                "{} is more than the model's {} timesteps",
                config.model.steps, card.config.timesteps
            ),
        ));
    }
    if let Some(mix) = &config.generate.mix {
        let req = super::request::JobRequest {
            mix: Some(mix.clone()),
            flows: Some(1),
            ..Default::default()
        };
        req.resolve(config, card)
            .map_err(|e| ConfigError::invalid(file, "generate.mix", e.message))?;
    }
    for (i, s) in config.schedule.iter().enumerate() {
        s.request().resolve(config, card).map_err(|e| {
            let field = e.field.clone().unwrap_or_default();
            ConfigError::invalid(file, &format!("schedule[{i}].{field}"), e.message)
        })?;
    }
    Ok(())
}

fn read_token(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let token = text.trim().to_string();
    if token.is_empty() {
        return Err("the file is empty".into());
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the token must be one word".into());
    }
    Ok(token)
}

/// Everything the daemon's tasks share.
pub struct Shared {
    /// The configuration file.
    pub config_path: PathBuf,
    /// Command-line overrides, re-applied on reload.
    pub overrides: Vec<(String, String)>,
    active: RwLock<Arc<Active>>,
    /// Every job, and the queue.
    pub jobs: Jobs,
    /// The metrics.
    pub metrics: Metrics,
    /// Cancelled when the daemon stops.
    pub stop: CancellationToken,
    /// systemd notifications.
    pub notifier: Notifier,
    /// Bumped when the schedules may have changed (a reload).
    pub schedules_changed: watch::Sender<u64>,
    /// When the daemon started.
    pub started: Instant,
}

impl Shared {
    /// Shares `active` with the tasks.
    pub fn new(
        config_path: PathBuf,
        overrides: Vec<(String, String)>,
        active: Active,
        metrics: Metrics,
        notifier: Notifier,
    ) -> Shared {
        let stop = CancellationToken::new();
        Shared {
            config_path,
            overrides,
            active: RwLock::new(Arc::new(active)),
            jobs: Jobs::new(metrics.clone(), stop.clone()),
            metrics,
            stop,
            notifier,
            schedules_changed: watch::channel(0).0,
            started: Instant::now(),
        }
    }

    /// The configuration in force (a snapshot: a reload does not change it under the caller).
    pub fn active(&self) -> Arc<Active> {
        Arc::clone(&self.active.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Puts `active` in force.
    pub fn replace_active(&self, active: Active) {
        *self.active.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(active);
        self.schedules_changed.send_modify(|n| *n += 1);
    }

    /// Stops taking jobs and cancels the running ones.
    pub fn begin_stop(&self) {
        if !self.stop.is_cancelled() {
            self.notifier.stopping();
            self.jobs.close();
            self.stop.cancel();
        }
    }
}
