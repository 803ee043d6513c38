//! The scenarios of the ML-usefulness part: what a classifier is trained on and what it is
//! tested on (see [`super::ml`]). Reports name them by [`Scenario::as_str`].

use serde::{Serialize, Serializer};

/// An ML-usefulness scenario; tested on held-out real flows unless named otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scenario {
    /// `real→real`: trained on the real training flows.
    RealToReal,
    /// `synthetic→real` (TSTR): trained on all flows of a synthetic set.
    SyntheticToReal,
    /// `real→synthetic`: the real-trained classifier tested on all flows of a synthetic set.
    RealToSynthetic,
    /// `mix r`: per class, a share r = tenths / 10 of the real training flows replaced by
    /// synthetic flows of the class.
    Mix {
        /// The share of synthetic flows, in tenths (0..=10).
        tenths: u8,
    },
    /// `balance`: the real training flows plus synthetic flows for every class smaller than
    /// the largest, up to the largest class's count.
    Balance,
}

/// The names of the mixing scenarios, by tenths.
const MIX_NAMES: [&str; 11] = [
    "mix 0.0", "mix 0.1", "mix 0.2", "mix 0.3", "mix 0.4", "mix 0.5", "mix 0.6", "mix 0.7",
    "mix 0.8", "mix 0.9", "mix 1.0",
];

impl Scenario {
    /// The mixing scenario of share `rate` (0 to 1, rounded to tenths).
    pub fn mix(rate: f64) -> Scenario {
        Scenario::Mix {
            tenths: (rate.clamp(0.0, 1.0) * 10.0).round() as u8,
        }
    }

    /// The scenario's name in reports: `real→real`, `synthetic→real`, `real→synthetic`,
    /// `mix 0.2`…, `balance`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::RealToReal => "real→real",
            Scenario::SyntheticToReal => "synthetic→real",
            Scenario::RealToSynthetic => "real→synthetic",
            Scenario::Mix { tenths } => MIX_NAMES[usize::from(tenths.min(10))],
            Scenario::Balance => "balance",
        }
    }

    /// The share of synthetic flows in training for the scenarios on the mixing curve:
    /// 0 for `real→real`, r for `mix r`, none for the others.
    pub fn mix_rate(self) -> Option<f64> {
        match self {
            Scenario::RealToReal => Some(0.0),
            Scenario::Mix { tenths } => Some(f64::from(tenths) / 10.0),
            _ => None,
        }
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Scenario {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_rates_are_the_reports() {
        assert_eq!(Scenario::RealToReal.as_str(), "real→real");
        assert_eq!(Scenario::SyntheticToReal.to_string(), "synthetic→real");
        assert_eq!(Scenario::RealToSynthetic.as_str(), "real→synthetic");
        assert_eq!(Scenario::Balance.as_str(), "balance");
        for rate in super::super::ml::MIX_RATES {
            let m = Scenario::mix(rate);
            assert_eq!(m.as_str(), format!("mix {rate:.1}"));
            assert_eq!(m.mix_rate(), Some(rate));
        }
        assert_eq!(Scenario::RealToReal.mix_rate(), Some(0.0));
        assert_eq!(Scenario::Balance.mix_rate(), None);
        assert_eq!(
            serde_json::to_string(&Scenario::SyntheticToReal).unwrap(),
            "\"synthetic→real\""
        );
    }
}
