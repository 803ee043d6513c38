//! Checks of a configuration that its types alone do not make: ranges, the interface
//! allow-list, paths, schedules and the jobs they run. Each error names the key.

use super::config::{Config, ConfigError};
use super::request::ReplayRequest;
use crate::replay::SenderKind;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

impl Config {
    /// Checks what the types alone do not.
    pub fn validate(&self, file: &Path) -> Result<(), ConfigError> {
        let bad = |key: &str, why: String| Err(ConfigError::invalid(file, key, why));
        let device = self.model.device.as_str();
        let cuda = device
            .strip_prefix("cuda:")
            .is_some_and(|n| n.parse::<usize>().is_ok());
        if !(cuda || matches!(device, "auto" | "cpu")) {
            return bad(
                "model.device",
                format!("{:?}: expected auto, cpu or cuda:N", self.model.device),
            );
        }
        if self.model.steps == 0 {
            return bad("model.steps", "must be at least 1".into());
        }
        if !(0.0..=20.0).contains(&self.model.guidance) {
            return bad("model.guidance", "must be within 0..=20".into());
        }
        if !(1..=1024).contains(&self.model.batch) {
            return bad("model.batch", "must be within 1..=1024".into());
        }
        if self.generate.flows == 0 || self.generate.flows > self.limits.max_flows_per_job {
            return bad(
                "generate.flows",
                format!(
                    "must be within 1..={} (limits.max_flows_per_job)",
                    self.limits.max_flows_per_job
                ),
            );
        }
        if let Some(m) = &self.generate.mix {
            m.to_mix()
                .map_err(|why| ConfigError::invalid(file, "generate.mix", why))?;
        }
        if self
            .generate
            .flow_gap
            .is_some_and(|g| g > Duration::from_secs(3600))
        {
            return bad("generate.flow_gap", "must be at most 1h".into());
        }
        if self.replay.interfaces.is_empty() {
            return bad("replay.interfaces", "name at least one interface".into());
        }
        if !self.replay.interfaces.contains(&self.replay.interface) {
            return bad(
                "replay.interface",
                format!(
                    "{:?} is not in replay.interfaces {:?}",
                    self.replay.interface, self.replay.interfaces
                ),
            );
        }
        if let Some(i2) = self.replay.iface2.as_ref().filter(|i| !i.is_empty()) {
            if !self.replay.interfaces.contains(i2) {
                return bad(
                    "replay.iface2",
                    format!(
                        "{i2:?} is not in replay.interfaces {:?}",
                        self.replay.interfaces
                    ),
                );
            }
            if *i2 == self.replay.interface {
                return bad(
                    "replay.iface2",
                    format!("{i2:?} is also replay.interface; an inline replay needs two"),
                );
            }
        }
        for (key, v) in [
            ("replay.dmac", &self.replay.dmac),
            ("replay.smac", &self.replay.smac),
        ] {
            if let Some(v) = v {
                v.parse::<crate::replay::MacPair>()
                    .map_err(|e| ConfigError::invalid(file, key, e.to_string()))?;
            }
        }
        if SenderKind::from_name(&self.replay.sender).is_none() {
            return bad(
                "replay.sender",
                format!("{:?}: expected auto, xdp, mmsg or pcap", self.replay.sender),
            );
        }
        let defaults = ReplayRequest::from_section(&self.replay);
        defaults
            .pace()
            .map_err(|(key, why)| ConfigError::invalid(file, &format!("replay.{key}"), why))?;
        if self.replay.loops == 0 || self.replay.loops > self.limits.max_loops {
            return bad(
                "replay.loop",
                format!(
                    "must be within 1..={} (limits.max_loops)",
                    self.limits.max_loops
                ),
            );
        }
        if self.output.spool.as_os_str().is_empty() {
            return bad("output.spool", "must name a directory".into());
        }
        let path = self.metrics.path.as_str();
        let plain = path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_.-".contains(c));
        if !path.starts_with('/')
            || path.len() < 2
            || !plain
            || path.contains("//")
            || path.starts_with("/v1")
            || ["/healthz", "/readyz"].contains(&path)
        {
            return bad(
                "metrics.path",
                format!(
                    "{path:?}: a path such as /metrics (letters, digits, / _ . -), outside /v1 and other than /healthz and /readyz"
                ),
            );
        }
        if self.api.max_body_bytes < 1024 {
            return bad("api.max_body_bytes", "must be at least 1024".into());
        }
        if self.limits.concurrent_jobs > 64 {
            return bad("limits.concurrent_jobs", "must be at most 64".into());
        }
        if self.limits.stop_timeout > Duration::from_secs(600) {
            return bad("limits.stop_timeout", "must be at most 10m".into());
        }
        for (key, zero) in [
            ("limits.queue_length", self.limits.queue_length == 0),
            ("limits.concurrent_jobs", self.limits.concurrent_jobs == 0),
            (
                "limits.max_flows_per_job",
                self.limits.max_flows_per_job == 0,
            ),
            ("limits.max_loops", self.limits.max_loops == 0),
            ("limits.job_history", self.limits.job_history == 0),
        ] {
            if zero {
                return bad(key, "must be at least 1".into());
            }
        }
        if self.limits.max_flows_per_job > crate::pipeline::MAX_FLOWS {
            return bad(
                "limits.max_flows_per_job",
                format!("must be at most {}", crate::pipeline::MAX_FLOWS),
            );
        }
        self.validate_schedules(file)
    }

    fn validate_schedules(&self, file: &Path) -> Result<(), ConfigError> {
        for (i, s) in self.schedule.iter().enumerate() {
            let key = |k: &str| format!("schedule[{i}].{k}");
            let bad = |k: &str, why: String| Err(ConfigError::invalid(file, &key(k), why));
            if s.name.is_empty()
                || !s
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return bad(
                    "name",
                    format!("{:?}: use letters, digits, - _ and .", s.name),
                );
            }
            if self.schedule[..i].iter().any(|o| o.name == s.name) {
                return bad("name", format!("{:?} is used twice", s.name));
            }
            match (&s.every, &s.cron) {
                (Some(_), Some(_)) => return bad("every", "give every or cron, not both".into()),
                (None, None) => return bad("every", "give every or cron".into()),
                (Some(d), None) if *d < Duration::from_secs(1) => {
                    return bad("every", "must be at least 1s".into())
                }
                (Some(d), None) if *d > Duration::from_secs(366 * 24 * 3600) => {
                    return bad("every", "must be at most 366d".into())
                }
                (None, Some(c)) => {
                    croner::Cron::from_str(c).map_err(|e| {
                        ConfigError::invalid(file, &key("cron"), format!("{c:?}: {e}"))
                    })?;
                }
                _ => {}
            }
            if s.mix.is_none() && self.generate.mix.is_none() {
                return bad("mix", "no mix here and none in [generate]".into());
            }
            let spec = s.request();
            spec.check_static(self).map_err(|e| {
                let field = e.field.clone().unwrap_or_default();
                ConfigError::invalid(file, &key(&field), e.message)
            })?;
        }
        Ok(())
    }
}
