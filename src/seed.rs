//! Seed derivation: every seeded generator of the crate gets its seed from a run's seed through
//! [`derive`], so a run is reproducible from that one number and no two purposes draw the same
//! stream. The salts of the fixed purposes are here too, so that they stay distinct.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The golden-ratio multiplier that spreads consecutive indices over all 64 bits.
const SPREAD: u64 = 0x9e37_79b9_7f4a_7c15;

/// The seed of item `index` (a step, a flow, a class…) of purpose `salt` under the run's seed
/// `base`: `base ^ salt ^ index·φ`. Salt 0 and index 0 leave `base` as it is.
pub fn derive(base: u64, salt: u64, index: u64) -> u64 {
    base ^ salt ^ index.wrapping_mul(SPREAD)
}

/// A generator seeded by [`derive`]`(base, salt, index)`.
pub fn rng(base: u64, salt: u64, index: u64) -> StdRng {
    StdRng::seed_from_u64(derive(base, salt, index))
}

/// Shuffles `items` in place (Fisher-Yates, from the last item down): the one shuffle of the
/// crate, so that a seed keeps drawing the same orders wherever one is needed.
pub fn shuffle<T>(items: &mut [T], rng: &mut impl Rng) {
    for i in (1..items.len()).rev() {
        items.swap(i, rng.random_range(0..=i));
    }
}

/// The salts of the fixed purposes that draw from a run's seed.
pub mod salt {
    /// Numbered streams: training steps, generated flows, baseline classes (the index says
    /// which).
    pub const STREAM: u64 = 0;
    /// The initial weights of a training run.
    pub const INIT_WEIGHTS: u64 = 0x5eed;
    /// The shuffles of a model card's templates and fallback statistics.
    pub const CARD_CLASSES: u64 = 0x7e3;
    /// The order of a generation job's classes.
    pub const CLASS_ORDER: u64 = 0x6d1;
    /// The start times of a generation job's flows.
    pub const FLOW_STARTS: u64 = 0xf10;
    /// The hosts of a generation job's flows.
    pub const FLOW_HOSTS: u64 = 0x4057;
    /// The bootstrap sample of a random forest's tree, by tree index.
    pub const FOREST_BOOTSTRAP: u64 = 0x5eed_f0e5_7000_0000;
    /// The features a random forest's tree draws at its nodes, by tree index.
    pub const FOREST_FEATURES: u64 = 0xfea7_0000;
    /// The flows a finished model samples to calibrate its times.
    pub const TIME_CALIBRATION: u64 = 0x7_1e5;
    /// The real opening a repaired flow takes for the handshake repair makes, by flow index.
    pub const FLOW_OPENINGS: u64 = 0x5_1a0c;
    /// The length a generated flow takes its template at, by flow index.
    pub const TEMPLATE_LENGTHS: u64 = 0x7e_1e97;
    /// The draws of a generated flow's length calibration, by flow index.
    pub const LENGTHS: u64 = 0x1e_9745;
    /// A generated flow's own level in its length groups' spreads, by flow index.
    pub const LENGTH_LEVELS: u64 = 0x1e_7e15;
    /// A generated flow's own place in its window groups' spreads, by flow index.
    pub const WINDOW_LEVELS: u64 = 0x3d_1e7e;
    /// Where a generated flow's sides start their per-connection counters, by flow index.
    pub const COUNTERS: u64 = 0xc0_0273;
    /// Repair's choices for a flow (addresses, ports, ISNs, payload fill), by flow index: apart
    /// from the sampler's stream of the same flow.
    pub const REPAIR: u64 = 0x4e_9a17;
    /// The evaluation's resamples of a synthetic set's flows, by set index.
    pub const EVAL_RESAMPLES: u64 = 0xb0_0757;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derive_keeps_the_forms_the_runs_were_seeded_with() {
        assert_eq!(derive(7, 0, 0), 7);
        assert_eq!(derive(7, salt::INIT_WEIGHTS, 0), 7 ^ 0x5eed);
        assert_eq!(
            derive(7, 0, 3),
            7 ^ 3u64.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        );
    }

    #[test]
    fn salts_are_distinct() {
        let mut s = [
            salt::STREAM,
            salt::INIT_WEIGHTS,
            salt::CARD_CLASSES,
            salt::CLASS_ORDER,
            salt::FLOW_STARTS,
            salt::FLOW_HOSTS,
            salt::FOREST_BOOTSTRAP,
            salt::FOREST_FEATURES,
            salt::TIME_CALIBRATION,
            salt::REPAIR,
            salt::FLOW_OPENINGS,
            salt::TEMPLATE_LENGTHS,
            salt::LENGTHS,
            salt::LENGTH_LEVELS,
            salt::WINDOW_LEVELS,
            salt::COUNTERS,
            salt::EVAL_RESAMPLES,
        ];
        s.sort_unstable();
        assert!(s.windows(2).all(|w| w[0] != w[1]));
    }
}
