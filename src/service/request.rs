//! What a job asks for, as the API (`POST /v1/jobs`) and `[[schedule]]` entries write it, and
//! its validation into a [`JobSpec`] against the configuration and the loaded model.

use super::config::{Config, ReplaySection};
use super::metrics::RejectReason;
use crate::model::ModelCard;
use crate::pipeline::ClassMix;
use crate::replay::{MacPair, Pace, Rate};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A class mix: `"netflix=3,zoom=1"` or `{netflix = 3, zoom = 1}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct MixSpec(pub Vec<(String, u32)>);

impl MixSpec {
    /// The mix as the pipeline takes it.
    pub fn to_mix(&self) -> Result<ClassMix, String> {
        let text: Vec<String> = self.0.iter().map(|(n, w)| format!("{n}={w}")).collect();
        text.join(",").parse()
    }
}

impl<'de> Deserialize<'de> for MixSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MixVisitor;
        impl<'de> Visitor<'de> for MixVisitor {
            type Value = MixSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a class mix: an object of class weights such as {\"netflix\": 3} or a string such as \"netflix=3,zoom=1\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<MixSpec, E> {
                let mix: ClassMix = s.parse().map_err(E::custom)?;
                Ok(MixSpec(mix.0))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MixSpec, A::Error> {
                let mut v: Vec<(String, u32)> = Vec::new();
                while let Some((name, weight)) = map.next_entry::<String, u64>()? {
                    let weight = u32::try_from(weight).map_err(|_| {
                        de::Error::custom(format!("weight of {name:?} is larger than {}", u32::MAX))
                    })?;
                    if v.iter().any(|(n, _)| *n == name) {
                        return Err(de::Error::custom(format!("class {name:?} appears twice")));
                    }
                    v.push((name, weight));
                }
                let spec = MixSpec(v);
                spec.to_mix().map_err(de::Error::custom)?;
                Ok(spec)
            }
        }
        d.deserialize_any(MixVisitor)
    }
}

/// A positive decimal given as a JSON/TOML number or string; kept as text so that the replay
/// engine's exact decimal parser sees what the user wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Decimal(pub String);

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DecimalVisitor;
        impl Visitor<'_> for DecimalVisitor {
            type Value = Decimal;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a positive number")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
                Ok(Decimal(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
                Ok(Decimal(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
                Ok(Decimal(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
                Ok(Decimal(v.to_string()))
            }
        }
        d.deserialize_any(DecimalVisitor)
    }
}

/// `replay` of a job: where and how to send; unset fields take `[replay]`'s values.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Interface (must be in `[replay] interfaces`); in an inline replay, the client side's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iface: Option<String>,
    /// Inline replay: the server side's interface (must be in `[replay] interfaces`); `""`
    /// asks for a one-interface replay where the configuration names a second interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iface2: Option<String>,
    /// Destination MAC, or CLIENT,SERVER: the first for frames from the client side, the
    /// second for frames from the server side (tcprewrite's `--enet-dmac`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dmac: Option<String>,
    /// Source MAC, or CLIENT,SERVER (tcprewrite's `--enet-smac`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smac: Option<String>,
    /// Captured timing divided by this factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiplier: Option<Decimal>,
    /// Constant packets per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pps: Option<Decimal>,
    /// Constant megabits per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mbps: Option<Decimal>,
    /// As fast as the interface takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topspeed: Option<bool>,
    /// Times to replay the job's pcap.
    #[serde(default, rename = "loop", skip_serializing_if = "Option::is_none")]
    pub loops: Option<u64>,
}

impl ReplayRequest {
    /// The defaults of `[replay]` written as a request.
    pub fn from_section(s: &ReplaySection) -> ReplayRequest {
        ReplayRequest {
            iface: Some(s.interface.clone()),
            iface2: s.iface2.clone(),
            dmac: s.dmac.clone(),
            smac: s.smac.clone(),
            multiplier: s.multiplier.clone().map(Decimal),
            pps: s.pps.clone().map(Decimal),
            mbps: s.mbps.clone().map(Decimal),
            topspeed: s.topspeed.then_some(true),
            loops: Some(s.loops),
        }
    }

    /// The pacing asked for, `None` when none is; errors name the field.
    pub fn pace(&self) -> Result<Option<Pace>, (String, String)> {
        let rate = |field: &str, d: &Decimal| {
            d.0.parse::<Rate>()
                .map_err(|e| (field.to_string(), e.to_string()))
        };
        let mut paces = Vec::new();
        if let Some(m) = &self.multiplier {
            paces.push(Pace::Captured {
                multiplier: rate("multiplier", m)?,
            });
        }
        if let Some(p) = &self.pps {
            paces.push(Pace::Pps(rate("pps", p)?));
        }
        if let Some(m) = &self.mbps {
            paces.push(Pace::Mbps(rate("mbps", m)?));
        }
        if self.topspeed == Some(true) {
            paces.push(Pace::TopSpeed);
        }
        match paces.len() {
            0 => Ok(None),
            1 => Ok(paces.pop()),
            _ => Err((
                "multiplier".into(),
                "give at most one of multiplier, pps, mbps and topspeed".into(),
            )),
        }
    }
}

/// `output` of a job.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutputRequest {
    /// Keep the job's pcap in the spool after the replay (a job without replay always does).
    #[serde(default)]
    pub pcap: bool,
}

/// A job as submitted: every field optional, defaults from the configuration.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// Class mix.
    #[serde(default)]
    pub mix: Option<MixSpec>,
    /// Flows to generate.
    #[serde(default)]
    pub flows: Option<usize>,
    /// Seed (the same seed, model and settings give the same flows).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Replay; unset writes the pcap only.
    #[serde(default)]
    pub replay: Option<ReplayRequest>,
    /// Output.
    #[serde(default)]
    pub output: Option<OutputRequest>,
}

impl super::config::ScheduleEntry {
    /// The job this entry runs.
    pub fn request(&self) -> JobRequest {
        JobRequest {
            mix: self.mix.clone(),
            flows: self.flows,
            seed: self.seed,
            replay: self.replay.clone(),
            output: self.output.clone(),
        }
    }
}

/// A validated replay.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplaySpec {
    /// Interface (the client side's in an inline replay).
    pub iface: String,
    /// Inline replay: the server side's interface.
    pub iface2: Option<String>,
    /// Destination MACs per side.
    pub dmac: Option<MacPair>,
    /// Source MACs per side.
    pub smac: Option<MacPair>,
    /// Pacing.
    pub pace: Pace,
    /// Loops.
    pub loops: u64,
}

/// A validated job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    /// Class mix.
    pub mix: ClassMix,
    /// Flows.
    pub flows: usize,
    /// Seed.
    pub seed: u64,
    /// Replay, if any.
    pub replay: Option<ReplaySpec>,
    /// Keep the pcap after the job.
    pub keep_pcap: bool,
}

/// What kind of problem a refused request has: each kind gives the HTTP status of the answer,
/// the `reason` label of `netdiffd_jobs_rejected_total`, and the details clients get.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestErrorKind {
    /// A field's value is wrong (400).
    BadValue,
    /// A size is over a configured limit (400), with the limit and its key under `[limits]`.
    OverLimit {
        /// The limit.
        limit: u64,
        /// Its key under `[limits]` (`max_flows_per_job` …).
        limit_key: &'static str,
    },
    /// An interface outside `replay.interfaces` (403).
    InterfaceNotAllowed {
        /// The allowed interfaces.
        allowed: Vec<String>,
    },
    /// Classes the model does not know (422).
    UnknownClass {
        /// The classes asked for that the model does not know.
        unknown: Vec<String>,
        /// The classes it knows.
        known: Vec<String>,
    },
}

impl RequestErrorKind {
    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        match self {
            RequestErrorKind::BadValue | RequestErrorKind::OverLimit { .. } => 400,
            RequestErrorKind::InterfaceNotAllowed { .. } => 403,
            RequestErrorKind::UnknownClass { .. } => 422,
        }
    }

    /// The reason a job submission refused for this counts under.
    pub fn reason(&self) -> RejectReason {
        match self {
            RequestErrorKind::BadValue | RequestErrorKind::OverLimit { .. } => {
                RejectReason::BadRequest
            }
            RequestErrorKind::InterfaceNotAllowed { .. } => RejectReason::InterfaceNotAllowed,
            RequestErrorKind::UnknownClass { .. } => RejectReason::UnknownClass,
        }
    }

    /// The fields the answer carries beside `error` and `field`.
    pub fn details(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        match self {
            RequestErrorKind::BadValue => {}
            RequestErrorKind::OverLimit { limit, limit_key } => {
                m.insert("limit".into(), (*limit).into());
                m.insert("limit_key".into(), (*limit_key).into());
            }
            RequestErrorKind::InterfaceNotAllowed { allowed } => {
                m.insert("allowed_interfaces".into(), allowed.clone().into());
            }
            RequestErrorKind::UnknownClass { unknown, known } => {
                m.insert("unknown_classes".into(), unknown.clone().into());
                m.insert("known_classes".into(), known.clone().into());
            }
        }
        m
    }
}

/// Why a request cannot run: its kind (which gives the HTTP status and the metric reason), the
/// field at fault and the message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    /// What kind of problem it is.
    pub kind: RequestErrorKind,
    /// The offending field, as a path (`replay.loop`).
    pub field: Option<String>,
    /// What is wrong, in words.
    pub message: String,
}

impl RequestError {
    /// The HTTP status of the answer: 400, 403 or 422.
    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// The `reason` label of `netdiffd_jobs_rejected_total`.
    pub fn reason(&self) -> RejectReason {
        self.kind.reason()
    }

    fn bad(field: &str, message: String) -> RequestError {
        RequestError {
            kind: RequestErrorKind::BadValue,
            field: Some(field.into()),
            message: format!("{field}: {message}"),
        }
    }

    fn over_limit(field: &str, value: u64, limit: u64, key: &'static str) -> RequestError {
        RequestError {
            kind: RequestErrorKind::OverLimit {
                limit,
                limit_key: key,
            },
            ..RequestError::bad(
                field,
                format!("{value} is over the limit {limit} ([limits] {key})"),
            )
        }
    }
}

impl JobRequest {
    /// Checks what can be checked without the model; used for `[[schedule]]` entries at load.
    pub fn check_static(&self, cfg: &Config) -> Result<(), RequestError> {
        self.resolve_with(cfg, None).map(|_| ())
    }

    /// Validates the request against the configuration and the model's card; fills defaults
    /// and draws a seed when none is given.
    pub fn resolve(&self, cfg: &Config, card: &ModelCard) -> Result<JobSpec, RequestError> {
        self.resolve_with(cfg, Some(card))
    }

    fn resolve_with(
        &self,
        cfg: &Config,
        card: Option<&ModelCard>,
    ) -> Result<JobSpec, RequestError> {
        let limits = &cfg.limits;
        let mix_spec = self
            .mix
            .as_ref()
            .or(cfg.generate.mix.as_ref())
            .ok_or_else(|| {
                RequestError::bad("mix", "missing (and [generate] mix is not set)".into())
            })?;
        let mix = mix_spec.to_mix().map_err(|e| RequestError::bad("mix", e))?;
        let flows = self.flows.unwrap_or(cfg.generate.flows);
        if flows == 0 {
            return Err(RequestError::bad("flows", "must be at least 1".into()));
        }
        if flows > limits.max_flows_per_job {
            return Err(RequestError::over_limit(
                "flows",
                flows as u64,
                limits.max_flows_per_job as u64,
                "max_flows_per_job",
            ));
        }
        if let Some(card) = card {
            check_classes(&mix, card)?;
            let packets = (flows as u64).saturating_mul(card.config.max_packets as u64);
            if packets > limits.max_packets_per_job {
                return Err(RequestError::over_limit(
                    "flows",
                    packets,
                    limits.max_packets_per_job,
                    "max_packets_per_job",
                )
                .with_message(format!(
                    "flows: {flows} flows of up to {} packets each may make {packets} packets, over the limit {} ([limits] max_packets_per_job)",
                    card.config.max_packets, limits.max_packets_per_job
                )));
            }
        }
        let replay = match &self.replay {
            None => None,
            Some(r) => Some(resolve_replay(r, cfg)?),
        };
        let keep_pcap = replay.is_none() || self.output.as_ref().is_some_and(|o| o.pcap);
        Ok(JobSpec {
            mix,
            flows,
            // 53 bits: a drawn seed stays exact in JSON clients that read numbers as doubles.
            seed: self
                .seed
                .or(cfg.generate.seed)
                .unwrap_or_else(|| rand::random::<u64>() >> 11),
            replay,
            keep_pcap,
        })
    }
}

impl RequestError {
    fn with_message(mut self, message: String) -> RequestError {
        self.message = message;
        self
    }
}

fn check_classes(mix: &ClassMix, card: &ModelCard) -> Result<(), RequestError> {
    let known: Vec<&str> = card.classes.iter().map(|c| c.name.as_str()).collect();
    let unknown: Vec<&str> = mix
        .0
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| !known.contains(n))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(RequestError {
        field: Some("mix".into()),
        message: format!(
            "mix: unknown class{} {}; the model knows {}",
            if unknown.len() > 1 { "es" } else { "" },
            unknown.join(", "),
            known.join(", ")
        ),
        kind: RequestErrorKind::UnknownClass {
            unknown: unknown.iter().map(|s| s.to_string()).collect(),
            known: known.iter().map(|s| s.to_string()).collect(),
        },
    })
}

fn resolve_replay(r: &ReplayRequest, cfg: &Config) -> Result<ReplaySpec, RequestError> {
    let defaults = ReplayRequest::from_section(&cfg.replay);
    let iface = r
        .iface
        .clone()
        .unwrap_or_else(|| cfg.replay.interface.clone());
    let allowed = |field: &str, iface: &str| {
        if cfg.replay.interfaces.iter().any(|i| i == iface) {
            return Ok(());
        }
        Err(RequestError {
            kind: RequestErrorKind::InterfaceNotAllowed {
                allowed: cfg.replay.interfaces.clone(),
            },
            field: Some(field.into()),
            message: format!(
                "{field}: interface {iface:?} is not allowed (allowed: {})",
                cfg.replay.interfaces.join(", ")
            ),
        })
    };
    allowed("replay.iface", &iface)?;
    let iface2 = r
        .iface2
        .clone()
        .or_else(|| cfg.replay.iface2.clone())
        .filter(|i| !i.is_empty());
    if let Some(i2) = &iface2 {
        allowed("replay.iface2", i2)?;
        if *i2 == iface {
            return Err(RequestError::bad(
                "replay.iface2",
                format!("{i2:?} is also replay.iface; an inline replay needs two interfaces"),
            ));
        }
    }
    let macs = |field: &str, v: &Option<String>, fallback: &Option<String>| {
        v.as_ref()
            .or(fallback.as_ref())
            .map(|s| s.parse::<MacPair>())
            .transpose()
            .map_err(|e| RequestError::bad(field, e.to_string()))
    };
    let dmac = macs("replay.dmac", &r.dmac, &cfg.replay.dmac)?;
    let smac = macs("replay.smac", &r.smac, &cfg.replay.smac)?;
    let bad_pace = |(f, why): (String, String)| RequestError::bad(&format!("replay.{f}"), why);
    let pace = match r.pace().map_err(bad_pace)? {
        Some(p) => p,
        None => defaults.pace().map_err(bad_pace)?.unwrap_or_default(),
    };
    let loops = r.loops.unwrap_or(cfg.replay.loops);
    if loops == 0 {
        return Err(RequestError::bad(
            "replay.loop",
            "must be at least 1".into(),
        ));
    }
    if loops > cfg.limits.max_loops {
        return Err(RequestError::over_limit(
            "replay.loop",
            loops,
            cfg.limits.max_loops,
            "max_loops",
        ));
    }
    Ok(ReplaySpec {
        iface,
        iface2,
        dmac,
        smac,
        pace,
        loops,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(json: &str) -> Result<JobRequest, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn mixes_parse_from_objects_and_text() {
        let r = req(r#"{"mix": {"netflix": 3, "zoom": 1}}"#).unwrap();
        assert_eq!(
            r.mix.unwrap().to_mix().unwrap().to_string(),
            "netflix=3,zoom=1"
        );
        let r = req(r#"{"mix": "zoom=2"}"#).unwrap();
        assert_eq!(r.mix.unwrap().0, vec![("zoom".to_string(), 2)]);
        assert!(req(r#"{"mix": {"a": 0}}"#).unwrap_err().contains("zero"));
        assert!(req(r#"{"mix": {"a": -1}}"#).is_err());
        assert!(req(r#"{"mix": 5}"#).unwrap_err().contains("class mix"));
        assert!(req(r#"{"mixx": {}}"#).unwrap_err().contains("mixx"));
    }

    #[test]
    fn limits_interfaces_and_pacing_are_checked() {
        let cfg = Config::default();
        let r = req(r#"{"mix": "a", "flows": 99999999}"#).unwrap();
        let e = r.check_static(&cfg).unwrap_err();
        assert_eq!((e.status(), e.field.as_deref()), (400, Some("flows")));
        assert_eq!(e.reason(), RejectReason::BadRequest);
        assert_eq!(e.kind.details()["limit_key"], "max_flows_per_job");
        assert!(e.message.contains("10000"), "{}", e.message);
        let r = req(r#"{"mix": "a", "replay": {"iface": "eth0"}}"#).unwrap();
        let e = r.check_static(&cfg).unwrap_err();
        assert_eq!(e.status(), 403);
        assert_eq!(e.reason(), RejectReason::InterfaceNotAllowed);
        assert_eq!(
            e.kind.details()["allowed_interfaces"],
            serde_json::json!(["lo"])
        );
        let r = req(r#"{"mix": "a", "replay": {"iface2": "eth1"}}"#).unwrap();
        let e = r.check_static(&cfg).unwrap_err();
        assert_eq!(
            (e.status(), e.field.as_deref()),
            (403, Some("replay.iface2"))
        );
        let r = req(r#"{"mix": "a", "replay": {"dmac": "zz"}}"#).unwrap();
        let e = r.check_static(&cfg).unwrap_err();
        assert_eq!((e.status(), e.field.as_deref()), (400, Some("replay.dmac")));
        let r = req(r#"{"mix": "a", "replay": {"loop": 1000000}}"#).unwrap();
        let e = r.check_static(&cfg).unwrap_err();
        assert!(e.message.contains("max_loops"), "{}", e.message);
        let r = req(r#"{"mix": "a", "replay": {"pps": 10, "mbps": 5}}"#).unwrap();
        assert!(r.check_static(&cfg).is_err());
        let r = req(r#"{"mix": "a", "replay": {"multiplier": -2}}"#).unwrap();
        let e = r.check_static(&cfg).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("replay.multiplier"));
        let r = req(r#"{"mix": "a", "replay": {"pps": 2.5}}"#).unwrap();
        let spec = r.resolve_with(&cfg, None).unwrap();
        assert_eq!(spec.replay.unwrap().pace, Pace::Pps("2.5".parse().unwrap()));
        assert!(!spec.keep_pcap);
    }
}
