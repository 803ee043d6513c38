//! Part 1 of the evaluation, statistical similarity: per class, the distribution of each header
//! field (over packets) and each flow feature (over flows) in real and synthetic traffic, and
//! the Jensen-Shannon divergence, total variation and Hellinger distance between them.

use super::distance::{compare, Distances, Histogram};
use super::fields::{FieldReader, HeaderField};
use super::flow_features::FlowFeature;
use crate::flows::Flow;
use crate::nprint::flow_packet_row;
use crate::nprint::layout::STANDARD_WIDTH;
use serde::Serialize;
use std::collections::BTreeMap;

/// The distributions of one class of one traffic set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    /// Per header field, in [`HeaderField::ALL`] order.
    pub fields: Vec<Histogram>,
    /// Per flow feature, in [`FlowFeature::ALL`] order.
    pub flow: Vec<Histogram>,
    /// Flows profiled.
    pub flows: usize,
    /// Packets profiled.
    pub packets: usize,
}

impl Profile {
    /// Profiles `flows`.
    pub fn of<'a>(flows: impl IntoIterator<Item = &'a Flow>) -> Profile {
        let reader = FieldReader::default();
        let mut p = Profile {
            fields: vec![Histogram::default(); HeaderField::ALL.len()],
            flow: vec![Histogram::default(); FlowFeature::ALL.len()],
            ..Profile::default()
        };
        let mut vals = Vec::new();
        let mut row = Vec::with_capacity(STANDARD_WIDTH);
        for flow in flows {
            p.flows += 1;
            p.packets += flow.packets.len();
            for pk in &flow.packets {
                row.clear();
                flow_packet_row(pk, &mut row);
                for (h, &f) in p.fields.iter_mut().zip(HeaderField::ALL.iter()) {
                    if let Some(v) = reader.value(&row, f) {
                        h.add(v);
                    }
                }
            }
            for (h, &f) in p.flow.iter_mut().zip(FlowFeature::ALL.iter()) {
                vals.clear();
                f.values(flow, &mut vals);
                vals.iter().for_each(|&v| h.add(v));
            }
        }
        p
    }

    /// Adds every observation of `other`.
    pub fn merge(&mut self, other: &Profile) {
        if self.fields.is_empty() {
            *self = other.clone();
            return;
        }
        for (a, b) in self.fields.iter_mut().zip(&other.fields) {
            a.merge(b);
        }
        for (a, b) in self.flow.iter_mut().zip(&other.flow) {
            a.merge(b);
        }
        self.flows += other.flows;
        self.packets += other.packets;
    }
}

/// Distances of one field or feature.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemDistance {
    /// Field or feature name.
    pub name: &'static str,
    /// Observations in the real traffic.
    pub real_n: u64,
    /// Observations in the synthetic traffic.
    pub synthetic_n: u64,
    /// `None` when neither side has the field (e.g. ICMP fields of a TCP-only class).
    pub distances: Option<Distances>,
}

/// The similarity of one class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassSimilarity {
    /// Class label.
    pub class: String,
    /// Real flows compared.
    pub real_flows: usize,
    /// Synthetic flows compared.
    pub synthetic_flows: usize,
    /// Header fields.
    pub fields: Vec<ItemDistance>,
    /// Flow features.
    pub flow_features: Vec<ItemDistance>,
    /// Mean over the header fields that either side has.
    pub fields_mean: Option<Distances>,
    /// Mean over the flow features that either side has.
    pub flow_mean: Option<Distances>,
}

fn items<T: Copy>(
    names: &[T],
    name: impl Fn(T) -> &'static str,
    real: &[Histogram],
    synth: &[Histogram],
) -> Vec<ItemDistance> {
    names
        .iter()
        .zip(real.iter().zip(synth))
        .map(|(&f, (r, s))| ItemDistance {
            name: name(f),
            real_n: r.total(),
            synthetic_n: s.total(),
            distances: compare(r, s),
        })
        .collect()
}

/// Compares the profiles of one class.
pub fn compare_class(class: &str, real: &Profile, synthetic: &Profile) -> ClassSimilarity {
    let fields = items(
        &HeaderField::ALL,
        HeaderField::name,
        &real.fields,
        &synthetic.fields,
    );
    let flow_features = items(
        &FlowFeature::ALL,
        FlowFeature::name,
        &real.flow,
        &synthetic.flow,
    );
    ClassSimilarity {
        class: class.to_string(),
        real_flows: real.flows,
        synthetic_flows: synthetic.flows,
        fields_mean: Distances::mean(fields.iter().filter_map(|f| f.distances.as_ref())),
        flow_mean: Distances::mean(flow_features.iter().filter_map(|f| f.distances.as_ref())),
        fields,
        flow_features,
    }
}

/// The similarity of one synthetic set to the real traffic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetSimilarity {
    /// The synthetic set.
    pub set: String,
    /// Classes present in both.
    pub classes: Vec<ClassSimilarity>,
    /// Real classes the set has no flow of.
    pub missing_classes: Vec<String>,
    /// Classes of the set that the real traffic does not have.
    pub unknown_classes: Vec<String>,
    /// Mean over classes of the per-class header-field means (the paper's Table 3 figure).
    pub fields_mean: Option<Distances>,
    /// Mean over classes of the per-class flow-feature means.
    pub flow_mean: Option<Distances>,
    /// Per header field, the mean over classes where it is defined.
    pub per_field: BTreeMap<&'static str, Distances>,
    /// Per flow feature, the mean over classes.
    pub per_flow_feature: BTreeMap<&'static str, Distances>,
}

fn per_item<'a>(rows: impl Iterator<Item = &'a ItemDistance>) -> BTreeMap<&'static str, Distances> {
    let mut by: BTreeMap<&'static str, Vec<Distances>> = BTreeMap::new();
    for r in rows {
        if let Some(d) = r.distances {
            by.entry(r.name).or_default().push(d);
        }
    }
    by.into_iter()
        .filter_map(|(k, v)| Distances::mean(&v).map(|m| (k, m)))
        .collect()
}

/// Compares every class of a synthetic set with the real traffic.
pub fn compare_sets(
    set: &str,
    real: &BTreeMap<String, Profile>,
    synthetic: &BTreeMap<String, Profile>,
) -> SetSimilarity {
    let classes: Vec<ClassSimilarity> = real
        .iter()
        .filter_map(|(c, r)| synthetic.get(c).map(|s| compare_class(c, r, s)))
        .collect();
    SetSimilarity {
        set: set.to_string(),
        missing_classes: real
            .keys()
            .filter(|c| !synthetic.contains_key(*c))
            .cloned()
            .collect(),
        unknown_classes: synthetic
            .keys()
            .filter(|c| !real.contains_key(*c))
            .cloned()
            .collect(),
        fields_mean: Distances::mean(classes.iter().filter_map(|c| c.fields_mean.as_ref())),
        flow_mean: Distances::mean(classes.iter().filter_map(|c| c.flow_mean.as_ref())),
        per_field: per_item(classes.iter().flat_map(|c| c.fields.iter())),
        per_flow_feature: per_item(classes.iter().flat_map(|c| c.flow_features.iter())),
        classes,
    }
}

/// Profiles per class of `flows`.
pub fn profiles_by_class<'a>(
    flows: impl IntoIterator<Item = &'a Flow>,
) -> BTreeMap<String, Profile> {
    let mut by: BTreeMap<String, Vec<&Flow>> = BTreeMap::new();
    for f in flows {
        if let Some(l) = &f.label {
            by.entry(l.clone()).or_default().push(f);
        }
    }
    by.into_iter().map(|(c, fl)| (c, Profile::of(fl))).collect()
}
