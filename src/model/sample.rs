//! Sampling: batched DDIM with class conditioning (classifier-free guidance when the scale is
//! not 1) and structure conditioning from a template of the class (a whole real flow's packet
//! shapes, with its packets' TCP flags and directions kept by inpainting where the card records
//! them), or free structure. Flows longer than the network's window are made window by
//! window with the end of the previous window as context. Every flow's noise comes from its own
//! seed, so a flow does not depend on the batch it ran in. Decoded time bins, payload lengths
//! and TCP windows go through the card's [time](super::calibration), [length](super::lengths)
//! and [window](super::windows) calibrations where it has them.

use super::calibration::BinMap;
use super::checkpoint::{CardClass, LoadedModel, ModelError};
use super::counters::{Counters, FreshCounters};
use super::encoding::{decoded_bin, quantise_row, GapsByBin};
use super::lengths::LengthMap;
use super::normal;
use super::port_times::{PortMaps, PortTimes};
use super::schedule::Ddim;
use super::template::{draw_length, length_bandwidth, no_structure, Template};
use super::windows::WindowMap;
use crate::flows::Direction;
use crate::nprint::layout::{model_to_standard, Bit, MODEL_WIDTH};
use crate::seed::{self, salt};
use candle_core::Tensor;
use rand::rngs::StdRng;
use rand::Rng;

/// Sampling settings.
#[derive(Debug, Clone)]
pub struct SampleSettings {
    /// DDIM steps.
    pub steps: usize,
    /// Classifier-free guidance scale (1 = conditional only; above 1 doubles the work).
    pub guidance: f64,
    /// Generate the structure too instead of taking it from a template.
    pub free_structure: bool,
    /// Generate each packet's TCP flags and direction too, instead of keeping those of the
    /// template's real packet (where the card records them).
    pub generate_kinds: bool,
    /// Flows per batch.
    pub batch: usize,
    /// Seed; flow `i` uses `seed` and `i`.
    pub seed: u64,
    /// Packets of the previous window each window after the first starts from (at most half
    /// the window).
    pub context: usize,
    /// Longest flow to generate (a template's flow is cut there); `None`: as long as the
    /// template.
    pub max_flow_packets: Option<usize>,
    /// Take every template at its own length, instead of a long one at a length drawn around
    /// it within its class's spread ([`template::draw_length`](super::template::draw_length)).
    pub exact_lengths: bool,
}

impl Default for SampleSettings {
    fn default() -> Self {
        SampleSettings {
            steps: 10,
            guidance: 1.0,
            free_structure: false,
            generate_kinds: false,
            batch: 8,
            seed: 0,
            context: 16,
            max_flow_packets: None,
            exact_lengths: false,
        }
    }
}

/// A generated flow, ready for repair.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedFlow {
    /// Class index.
    pub class: usize,
    /// Packets in the standard layout (1088 values each; addresses vacant).
    pub rows: Vec<Bit>,
    /// Per-packet directions.
    pub directions: Vec<Direction>,
    /// Per-packet gaps since the previous packet (ns).
    pub iat_ns: Vec<u64>,
    /// The server port held from the flow's template (a real training flow's), which repair
    /// keeps; None without a template or one that records no port.
    pub server_port: Option<u16>,
}

impl GeneratedFlow {
    /// Number of packets.
    pub fn len(&self) -> usize {
        self.directions.len()
    }
    /// True when the flow has no packets.
    pub fn is_empty(&self) -> bool {
        self.directions.is_empty()
    }
}

/// Generates one flow for each entry of `classes` (class indices of the model's card); flow
/// `i` is seeded by `settings.seed` and `first_index + i`.
pub fn sample(
    m: &LoadedModel,
    classes: &[usize],
    first_index: u64,
    settings: &SampleSettings,
) -> Result<Vec<GeneratedFlow>, ModelError> {
    let mut out: Vec<Option<GeneratedFlow>> = vec![None; classes.len()];
    sample_with::<ModelError>(m, classes, first_index, settings, &mut |batch, _| {
        for (i, flow) in batch {
            out[i] = Some(flow);
        }
        Ok(true)
    })?;
    Ok(out.into_iter().flatten().collect())
}

/// A flow being sampled: its template, its generator, the clean values of the rows the next
/// window still needs and the rows decoded so far.
struct Pending {
    index: usize,
    class: usize,
    template: Option<Template>,
    rng: StdRng,
    /// The draws of the flow's length calibration: a stream apart, so that calibrating lengths
    /// leaves the flow's other draws as they were.
    length_rng: StdRng,
    /// The flow's own place in its length groups' spreads ([`LengthMap::apply`]), drawn from a
    /// stream of its own so that the flow's other draws are as they were.
    length_level: f64,
    /// The flow's own place in its window groups' spreads ([`WindowMap::apply`]), from a
    /// stream of its own.
    window_level: f64,
    /// Where the flow's sides start their sequence numbers, timestamps and identifications
    /// ([`Counters`]), from a stream of its own.
    counters: Counters,
    /// Rows the flow will have (the template's length; in free-structure mode the most it may
    /// have, shortened when an all-vacant row ends it).
    rows: usize,
    /// Clean values (`channels` a row) of rows `base..`; rows are filled window by window, and
    /// those before the next window's context are decoded and dropped (4 KB a packet: a batch
    /// of 2,048-packet flows would hold 68 MB of them).
    values: Vec<f32>,
    /// The row `values` starts at.
    base: usize,
    /// Decoded rows `0..base`: packets in the standard layout, directions, and time bins (the
    /// times are placed within their bins once the flow is whole, so that the flow's
    /// generator draws in the same order however its windows fall).
    decoded: Vec<Bit>,
    directions: Vec<Direction>,
    bins: Vec<u8>,
}

/// As [`sample`], handing each batch's flows to `on_batch(flows, seconds)` as soon as they are
/// made, as `(i, flow)` pairs (`i` indexes `classes`; batches group flows of similar length, so
/// they do not come in index order), with the seconds the batch took. A caller that repairs or
/// writes them there never holds the whole job's generated values at once. When `on_batch`
/// returns `Ok(false)` sampling stops (a caller's cancellation between batches) and so does
/// this, with `Ok(false)`; `Ok(true)` once every flow was handed over.
///
/// A flow longer than the network's window is made window by window: each window after the
/// first starts with the last [`SampleSettings::context`] packets of the one before, held at
/// their generated values while the rest is denoised (inpainting), so header fields, directions
/// and timing carry on across the seam instead of restarting.
pub fn sample_with<E: From<ModelError>>(
    m: &LoadedModel,
    classes: &[usize],
    first_index: u64,
    settings: &SampleSettings,
    on_batch: &mut dyn FnMut(Vec<(usize, GeneratedFlow)>, f64) -> Result<bool, E>,
) -> Result<bool, E> {
    let cfg = &m.card.config;
    if let Some(&c) = classes.iter().find(|&&c| c >= cfg.classes) {
        return Err(ModelError::Device(format!(
            "class index {c} out of range (model has {})",
            cfg.classes
        ))
        .into());
    }
    let (l, ch) = (cfg.max_packets, cfg.channels());
    let context = settings.context.min(l / 2);
    let ddim = Ddim::new(cfg, settings.steps);
    let maps: Vec<ClassMaps> = m.card.classes.iter().map(ClassMaps::of).collect();
    let mut pending: Vec<Pending> = classes
        .iter()
        .enumerate()
        .map(|(i, &class)| {
            let index = first_index + i as u64;
            let mut rng = seed::rng(settings.seed, salt::STREAM, index);
            let tpls = &m.card.classes[class].templates;
            let template = if settings.free_structure || tpls.is_empty() {
                None
            } else {
                let t = &tpls[rng.random_range(0..tpls.len())];
                let t = if settings.exact_lengths {
                    t.clone()
                } else {
                    let c = &maps[class];
                    let mut draws = seed::rng(settings.seed, salt::TEMPLATE_LENGTHS, index);
                    let len = draw_length(t.len(), c.length_bandwidth, c.longest, &mut draws);
                    t.resized(len)
                };
                Some(if settings.generate_kinds {
                    t.without_kinds()
                } else {
                    t
                })
            };
            let rows = template
                .as_ref()
                // Free structure: as long as the class's longest template, a window at least.
                .map_or_else(|| maps[class].longest.max(l), Template::len)
                .min(settings.max_flow_packets.unwrap_or(usize::MAX))
                .max(1);
            Pending {
                index: i,
                class,
                template,
                rng,
                length_rng: seed::rng(settings.seed, salt::LENGTHS, index),
                length_level: seed::rng(settings.seed, salt::LENGTH_LEVELS, index).random(),
                window_level: seed::rng(settings.seed, salt::WINDOW_LEVELS, index).random(),
                counters: Counters::new(
                    &maps[class].fresh_counters,
                    &mut seed::rng(settings.seed, salt::COUNTERS, index),
                ),
                rows,
                values: Vec::new(),
                base: 0,
                decoded: Vec::new(),
                directions: Vec::new(),
                bins: Vec::new(),
            }
        })
        .collect();
    // Flows run in batches of similar length, so that few rows are padding.
    pending.sort_by_key(|p| (std::cmp::Reverse(p.rows), p.index));
    for chunk in pending.chunks_mut(settings.batch.max(1)) {
        let started = std::time::Instant::now();
        let mut start = 0;
        loop {
            let ctx = if start == 0 { 0 } else { context };
            // Flows with rows left beyond the context.
            let mut active: Vec<&mut Pending> =
                chunk.iter_mut().filter(|p| p.rows > start + ctx).collect();
            if active.is_empty() {
                break;
            }
            let rows = active
                .iter()
                .map(|p| (p.rows - start).min(l))
                .max()
                .unwrap_or(l);
            denoise_window(m, settings, &ddim, &mut active, start, rows, ctx)?;
            if active.iter().all(|p| p.rows <= start + rows) {
                break;
            }
            start += rows - context;
            for p in active {
                decode_rows(p, start, ch, &maps[p.class]);
            }
        }
        let mut done = Vec::with_capacity(chunk.len());
        for p in chunk.iter_mut() {
            done.push((p.index, finish_flow(p, ch, &maps[p.class])));
        }
        if !on_batch(done, started.elapsed().as_secs_f64())? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Denoises rows `start..start + rows` of the flows of `batch` (the first `ctx` of them already
/// made, held as context) and stores the clean values.
fn denoise_window(
    m: &LoadedModel,
    settings: &SampleSettings,
    ddim: &Ddim,
    batch: &mut [&mut Pending],
    start: usize,
    rows: usize,
    ctx: usize,
) -> Result<(), ModelError> {
    let cfg = &m.card.config;
    let (ch, dev) = (cfg.channels(), &m.device);
    let ts = ddim.timesteps();
    let b = batch.len();
    let mut x = Vec::with_capacity(b * rows * ch);
    let mut structure = Vec::with_capacity(b * rows * (MODEL_WIDTH + 1));
    let mut keep = vec![1f32; b * rows * ch];
    let mut known = vec![0f32; b * rows * ch];
    let mut held = vec![0f32; b * rows * ch];
    let mut any_held = false;
    for (i, p) in batch.iter_mut().enumerate() {
        let own = (p.rows - start).min(rows);
        let slice = p.template.as_ref().map(|t| t.slice(start, rows));
        match &slice {
            Some(t) => t.structure(rows, &mut structure),
            None => no_structure(rows, &mut structure),
        }
        // Noise for the flow's own rows only, so that a flow does not depend on its batch.
        x.extend((0..own * ch).map(|_| normal(&mut p.rng)));
        x.resize((i + 1) * rows * ch, 0.0);
        let k = &mut keep[i * rows * ch..(i + 1) * rows * ch];
        if let Some(t) = &slice {
            for r in 0..rows {
                let row = &mut k[r * ch..(r + 1) * ch];
                if r >= t.len() {
                    row.fill(0.0);
                    continue;
                }
                for (v, pop) in row[..MODEL_WIDTH].iter_mut().zip(t.populated(r)) {
                    *v = f32::from(u8::from(pop));
                }
                let at = (i * rows + r) * ch..(i * rows + r + 1) * ch;
                any_held |= t.hold_kind(r, &mut known[at.clone()], &mut held[at]);
            }
        }
        for r in 0..ctx.min(own) {
            let at = start + r - p.base;
            let src = &p.values[at * ch..(at + 1) * ch];
            known[(i * rows + r) * ch..(i * rows + r + 1) * ch].copy_from_slice(src);
            held[(i * rows + r) * ch..(i * rows + r + 1) * ch].fill(1.0);
            any_held = true;
        }
    }
    let structure = Tensor::from_vec(structure, (b, rows, MODEL_WIDTH + 1), dev)?;
    let keep = Tensor::from_vec(keep, (b, rows, ch), dev)?;
    let cond: Vec<u32> = batch.iter().map(|p| p.class as u32).collect();
    let guided = (settings.guidance - 1.0).abs() > 1e-9;
    let (structure_in, class_in) = if guided {
        let null = vec![cfg.classes as u32; b];
        (
            Tensor::cat(&[&structure, &structure], 0)?,
            Tensor::from_vec([cond, null].concat(), 2 * b, dev)?,
        )
    } else {
        (structure.clone(), Tensor::from_vec(cond, b, dev)?)
    };
    let mut x = Tensor::from_vec(x, (b, rows, ch), dev)?;
    // Context rows and the template's packet kinds: their clean values are known (inpainting by
    // replacement); their noisy values follow the schedule with the flow's own noise, which
    // the DDIM update then carries step to step by itself.
    let context = if any_held {
        let known = Tensor::from_vec(known, (b, rows, ch), dev)?;
        let held = Tensor::from_vec(held, (b, rows, ch), dev)?;
        let noised = ddim.add_noise(&known, &x, ts[0])?;
        x = ((&x * (1.0 - &held)?)? + (noised * &held)?)?;
        Some((known, held))
    } else {
        None
    };
    let mut x0 = x.clone();
    for &t in ts {
        let x_in = if guided {
            Tensor::cat(&[&x, &x], 0)?
        } else {
            x.clone()
        };
        let t_in = Tensor::from_vec(vec![t as f32; x_in.dim(0)?], x_in.dim(0)?, dev)?;
        let x0_pred = m
            .denoiser
            .forward(&x_in, &structure_in, &t_in, &class_in, true)?;
        x0 = if guided {
            let c = x0_pred.narrow(0, 0, b)?;
            let u = x0_pred.narrow(0, b, b)?;
            (&u + ((c - &u)? * settings.guidance)?)?.clamp(-1f32, 1f32)?
        } else {
            x0_pred
        };
        x0 = (&x0 * &keep)?;
        if let Some((known, held)) = &context {
            x0 = ((&x0 * (1.0 - held)?)? + (known * held)?)?;
        }
        x = ddim.step(&x0, t, &x)?;
    }
    let values: Vec<f32> = x0.flatten_all()?.to_vec1()?;
    for (i, p) in batch.iter_mut().enumerate() {
        let own = (p.rows - start).min(rows);
        let free = p.template.is_none();
        p.values.resize((start + own - p.base) * ch, 0.0);
        for r in ctx.min(own)..own {
            let v = &values[(i * rows + r) * ch..(i * rows + r + 1) * ch];
            let at = start + r - p.base;
            let dst = &mut p.values[at * ch..(at + 1) * ch];
            // Held as context by the next window: with a template, the generated values as the
            // ±1 (0 vacant) the network was trained on; free structure keeps its near-0 vacancies.
            for (d, &s) in dst.iter_mut().zip(v) {
                *d = if free || s == 0.0 { s } else { s.signum() };
            }
            if free && v[..MODEL_WIDTH].iter().all(|x| x.abs() <= FREE_VACANT) {
                p.rows = start + r; // an all-vacant row ends a free-structure flow
                p.values.truncate((p.rows - p.base) * ch);
                break;
            }
        }
    }
    Ok(())
}

/// In free-structure mode, values within this distance of 0 are vacant.
const FREE_VACANT: f32 = 1.0 / 3.0;

/// Decodes the flow's rows before row `upto` that are not decoded yet (payload lengths and TCP
/// windows calibrated where the class has maps) and drops their values.
fn decode_rows(p: &mut Pending, upto: usize, ch: usize, maps: &ClassMaps) {
    let upto = upto.min(p.base + p.values.len() / ch);
    let mut model_row = Vec::with_capacity(MODEL_WIDTH);
    for r in p.base..upto {
        let v = &p.values[(r - p.base) * ch..(r - p.base + 1) * ch];
        model_row.clear();
        let pop = p.template.as_ref().map(|t| t.populated(r));
        quantise_row(v, pop.as_deref(), &mut model_row);
        let backward = v[MODEL_WIDTH] < 0.0;
        if let Some(lengths) = &maps.lengths {
            lengths.apply(
                &mut model_row,
                backward,
                r,
                p.length_level,
                &mut p.length_rng,
            );
        }
        if let Some(windows) = &maps.windows {
            windows.apply(&mut model_row, backward, r, p.window_level);
        }
        p.counters.apply(&mut model_row, backward);
        model_to_standard(&model_row, &mut p.decoded);
        p.directions.push(if backward {
            Direction::Backward
        } else {
            Direction::Forward
        });
        p.bins.push(decoded_bin(&v[MODEL_WIDTH + 1..]) as u8);
    }
    p.values.drain(..(upto - p.base) * ch);
    p.base = upto;
}

/// What a class's card gives sampling, prepared once a call: the spread of its templates'
/// lengths, and what its decoded values become — its time bins go through the calibration map
/// onto its real gaps' bins (when the card has one) and are placed among its real gaps within
/// each bin; its payload lengths and TCP windows go through its length and window maps (when
/// the card has them).
struct ClassMaps {
    /// Its longest template's packets (0 without templates).
    longest: usize,
    /// The kernel bandwidth its long templates' lengths are drawn around with.
    length_bandwidth: f64,
    time_map: Option<BinMap>,
    port_maps: PortMaps,
    gaps: GapsByBin,
    lengths: Option<LengthMap>,
    windows: Option<WindowMap>,
    fresh_counters: FreshCounters,
}

impl ClassMaps {
    fn of(c: &CardClass) -> ClassMaps {
        let gaps = GapsByBin::new(&c.hints.iat_samples_ns);
        ClassMaps {
            longest: c.templates.iter().map(Template::len).max().unwrap_or(0),
            length_bandwidth: length_bandwidth(&c.templates),
            time_map: c
                .time_calibration
                .as_ref()
                .and_then(|t| BinMap::new(&t.sampled_bins, &gaps.counts())),
            port_maps: c
                .port_times
                .as_ref()
                .map(PortTimes::maps)
                .unwrap_or_default(),
            gaps,
            lengths: c.length_calibration.as_ref().and_then(LengthMap::new),
            windows: c.window_calibration.as_ref().and_then(WindowMap::new),
            fresh_counters: c.fresh_counters.unwrap_or_default(),
        }
    }
}

/// Decodes the flow's last rows and hands the whole flow over (bins calibrated, then times
/// placed within them, draws in row order).
fn finish_flow(p: &mut Pending, ch: usize, maps: &ClassMaps) -> GeneratedFlow {
    decode_rows(p, p.rows, ch, maps);
    p.values = Vec::new();
    let server_port = p.template.as_ref().and_then(|t| t.server_port);
    // The flow's port's map where it has one, else the class's: one lookup a flow.
    let time_map = maps.port_maps.get(server_port).or(maps.time_map.as_ref());
    let iat_ns = p
        .bins
        .iter()
        .enumerate()
        .map(|(r, &bin)| {
            let jitter: f64 = p.rng.random();
            if r == 0 {
                return 0;
            }
            let bin = match time_map {
                Some(map) => map.map(usize::from(bin), p.rng.random()),
                None => usize::from(bin),
            };
            maps.gaps.place(bin, jitter)
        })
        .collect();
    GeneratedFlow {
        class: p.class,
        rows: std::mem::take(&mut p.decoded),
        directions: std::mem::take(&mut p.directions),
        iat_ns,
        server_port,
    }
}
