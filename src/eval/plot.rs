//! PNG plots of the report: real against synthetic distributions of a few fields and features,
//! the similarity of each set, and classifier accuracy against the share of synthetic flows.
//!
//! Text needs a TrueType font read at run time: `$NETDIFFD_FONT`, else DejaVu Sans where
//! Debian's `fonts-dejavu-core` puts it. Without one the plots are drawn without text.

use super::distance::Histogram;
use super::fields::HeaderField;
use super::flow_features::FlowFeature;
use super::ml::{LabelLevel, Scenario};
use super::report::EvalReport;
use super::similarity::Profile;
use super::EvalError;
use crate::eval::classify::ClassifierKind;
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

/// Font files tried in order after `$NETDIFFD_FONT`.
const FONT_CANDIDATES: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];
/// Bins shown per distribution panel (the largest by combined share).
const MAX_BINS: usize = 8;
const REAL_COLOUR: RGBColor = RGBColor(31, 119, 180);
const SYNTH_COLOUR: RGBColor = RGBColor(255, 127, 14);
const SERIES: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];

/// Registers the font once; whether text can be drawn.
pub fn font_available() -> bool {
    static FONT: OnceLock<bool> = OnceLock::new();
    *FONT.get_or_init(|| {
        let env = std::env::var("NETDIFFD_FONT").ok();
        for path in env.iter().map(String::as_str).chain(FONT_CANDIDATES) {
            if let Ok(bytes) = std::fs::read(path) {
                // Registered fonts must live for the whole process: leak the one copy.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> EvalError {
    EvalError::Plot {
        path: path.to_path_buf(),
        why: e.to_string(),
    }
}

/// Draws into an RGB buffer with `draw`, then writes it as PNG.
fn render(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> Result<(), String>,
) -> Result<(), EvalError> {
    let mut buf = vec![255u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
        draw(&root).map_err(|e| plot_err(path, e))?;
        root.present().map_err(|e| plot_err(path, e))?;
    }
    // Whole or not at all: a temporary file renamed into place.
    let mut file =
        crate::atomic_file::AtomicFile::create(path).map_err(|e| EvalError::io(path, e))?;
    {
        let mut enc = png::Encoder::new(&mut file, size.0, size.1);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(|e| plot_err(path, e))?;
        w.write_image_data(&buf).map_err(|e| plot_err(path, e))?;
        w.finish().map_err(|e| plot_err(path, e))?;
    }
    file.commit().map_err(|e| EvalError::io(path, e))?;
    Ok(())
}

fn s<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// One panel: shares of the largest bins, real and synthetic side by side.
fn histogram_panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    title: &str,
    real: &Histogram,
    synth: &Histogram,
    label: &dyn Fn(u64) -> String,
    text: bool,
) -> Result<(), String> {
    let mut keys: Vec<u64> = real
        .counts()
        .keys()
        .chain(synth.counts().keys())
        .copied()
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys.sort_by(|a, b| {
        (real.share(*b) + synth.share(*b)).total_cmp(&(real.share(*a) + synth.share(*a)))
    });
    keys.truncate(MAX_BINS);
    keys.sort_unstable();
    let n = keys.len().max(1);
    let ymax = keys
        .iter()
        .map(|&k| real.share(k).max(synth.share(k)))
        .fold(0.0, f64::max)
        .max(0.05)
        * 1.1;
    let mut b = ChartBuilder::on(area);
    b.margin(10);
    if text {
        b.caption(title, ("sans-serif", 18))
            .x_label_area_size(28)
            .y_label_area_size(40);
    }
    let mut chart = b
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0f64..ymax)
        .map_err(s)?;
    let fmt = |x: &f64| category_at(*x, keys.len()).map_or(String::new(), |i| label(keys[i]));
    let mut mesh = chart.configure_mesh();
    mesh.disable_x_mesh();
    if text {
        mesh.x_labels(n + 2)
            .x_label_formatter(&fmt)
            .y_labels(5)
            .label_style(("sans-serif", 11));
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(s)?;
    for (i, &k) in keys.iter().enumerate() {
        let x = i as f64;
        chart
            .draw_series([
                Rectangle::new([(x - 0.4, 0.0), (x, real.share(k))], REAL_COLOUR.filled()),
                Rectangle::new([(x, 0.0), (x + 0.4, synth.share(k))], SYNTH_COLOUR.filled()),
            ])
            .map_err(s)?;
    }
    Ok(())
}

/// Real (blue) against `set` (orange) over all classes, for six fields and features.
fn distributions(path: &Path, set: &str, real: &Profile, synth: &Profile) -> Result<(), EvalError> {
    let text = font_available();
    let fields = [
        HeaderField::Ipv4TotalLength,
        HeaderField::Ipv4Ttl,
        HeaderField::TcpFlags,
    ];
    let feats = [
        FlowFeature::Packets,
        FlowFeature::InterArrival,
        FlowFeature::ForwardShare,
    ];
    let fi = |f: HeaderField| HeaderField::ALL.iter().position(|&x| x == f).unwrap_or(0);
    let gi = |f: FlowFeature| FlowFeature::ALL.iter().position(|&x| x == f).unwrap_or(0);
    render(path, (1500, 860), |root| {
        let (top, body) = root.split_vertically(if text { 40 } else { 0 });
        if text {
            top.titled(
                &format!(
                    "real (blue) vs {set} (orange): share of packets / flows per bin, all classes"
                ),
                ("sans-serif", 20),
            )
            .map_err(s)?;
        }
        let panels = body.split_evenly((2, 3));
        for (p, &f) in panels[..3].iter().zip(&fields) {
            let short = move |k: u64| short_label(&f.bin_label(k));
            histogram_panel(
                p,
                f.name(),
                &real.fields[fi(f)],
                &synth.fields[fi(f)],
                &short,
                text,
            )?;
        }
        for (p, &f) in panels[3..].iter().zip(&feats) {
            let short = move |k: u64| short_label(&f.bin_label(k));
            histogram_panel(
                p,
                f.name(),
                &real.flow[gi(f)],
                &synth.flow[gi(f)],
                &short,
                text,
            )?;
        }
        Ok(())
    })
}

/// A bin label short enough to sit under its bar: a range shows its lower end.
fn short_label(l: &str) -> String {
    match l.split_once('-') {
        Some((lo, _)) if !lo.is_empty() => lo.to_string(),
        _ => l.trim_start_matches('≥').chars().take(9).collect(),
    }
}

/// Mean JSD, TVD and Hellinger of each set, header fields and flow features.
fn similarity_bars(path: &Path, report: &EvalReport) -> Result<(), EvalError> {
    let text = font_available();
    let sets = &report.similarity;
    let names: Vec<String> = sets.iter().map(|x| x.set.clone()).collect();
    render(path, (1200, 520), |root| {
        let panels = root.split_evenly((1, 2));
        for (pi, p) in panels.iter().enumerate() {
            let title = if pi == 0 {
                "header fields"
            } else {
                "flow features"
            };
            let values: Vec<Vec<f64>> = sets
                .iter()
                .map(|x| {
                    let d = if pi == 0 { x.fields_mean } else { x.flow_mean };
                    d.map_or_else(Vec::new, |d| vec![d.jsd, d.tvd, d.hellinger])
                })
                .collect();
            let bars = Bars {
                caption: &format!("{title}: JSD / TVD / Hellinger (lower is better)"),
                y_desc: None,
                names: &names,
                values: &values,
                colours: &SERIES[..3],
                top: 1.05,
            };
            bars.draw(p, text)?;
        }
        Ok(())
    })
}

/// A bar chart of groups: one group of bars a category, the categories named along the x axis,
/// bar j of every group in `colours[j]`.
struct Bars<'a> {
    caption: &'a str,
    y_desc: Option<&'a str>,
    names: &'a [String],
    /// Per category, its bars' heights (an empty list leaves the category blank).
    values: &'a [Vec<f64>],
    colours: &'a [RGBColor],
    /// Top of the y axis.
    top: f64,
}

type BarChart<'a, 'b> = ChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

impl Bars<'_> {
    /// Draws the chart on `area` (labels only when a font is available) and returns it for
    /// more drawing, such as a legend.
    fn draw<'a, 'b>(
        &self,
        area: &'a DrawingArea<BitMapBackend<'b>, plotters::coord::Shift>,
        text: bool,
    ) -> Result<BarChart<'a, 'b>, String> {
        let n = self.names.len().max(1);
        let mut b = ChartBuilder::on(area);
        b.margin(14);
        if text {
            b.caption(self.caption, ("sans-serif", 17))
                .x_label_area_size(34)
                .y_label_area_size(48);
        }
        let mut chart = b
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0f64..self.top)
            .map_err(s)?;
        let names = self.names;
        let fmt =
            |x: &f64| category_at(*x, names.len()).map_or(String::new(), |i| names[i].clone());
        let mut mesh = chart.configure_mesh();
        mesh.disable_x_mesh();
        if text {
            mesh.x_labels(n + 2)
                .x_label_formatter(&fmt)
                .label_style(("sans-serif", 13));
            if let Some(d) = self.y_desc {
                mesh.y_desc(d);
            }
        } else {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw().map_err(s)?;
        let step = 0.8 / self.colours.len().max(1) as f64;
        for (i, group) in self.values.iter().enumerate() {
            for (j, &v) in group.iter().enumerate() {
                let x0 = i as f64 - 0.4 + step * j as f64;
                let colour = self.colours[j % self.colours.len()];
                chart
                    .draw_series([Rectangle::new(
                        [(x0, 0.0), (x0 + step * 0.9, v)],
                        colour.filled(),
                    )])
                    .map_err(s)?;
            }
        }
        Ok(chart)
    }
}

/// Accuracy on held-out real flows against the share of synthetic flows in training.
fn mixing(path: &Path, report: &EvalReport, set: &str) -> Result<(), EvalError> {
    let text = font_available();
    let mut lines: BTreeMap<(LabelLevel, ClassifierKind), Vec<(f64, f64)>> = BTreeMap::new();
    for r in &report.ml.results {
        let on_real = (r.set == set && r.mix_rate.is_some()) || r.scenario == Scenario::RealToReal;
        if let (true, Some(rate)) = (on_real, r.mix_rate) {
            lines
                .entry((r.labels, r.classifier))
                .or_default()
                .push((rate, r.accuracy));
        }
    }
    render(path, (900, 560), |root| {
        let mut b = ChartBuilder::on(root);
        b.margin(16);
        if text {
            b.caption(
                format!("accuracy on held-out real flows vs share of {set} flows in training"),
                ("sans-serif", 18),
            )
            .x_label_area_size(36)
            .y_label_area_size(48);
        }
        let mut chart = b.build_cartesian_2d(0f64..1f64, 0f64..1.02).map_err(s)?;
        let mut mesh = chart.configure_mesh();
        if text {
            mesh.x_desc("share of synthetic flows")
                .y_desc("accuracy")
                .label_style(("sans-serif", 13));
        } else {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw().map_err(s)?;
        for (i, ((level, kind), mut pts)) in lines.into_iter().enumerate() {
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let colour = SERIES[i % SERIES.len()];
            let name = format!(
                "{} {}",
                if level == LabelLevel::Macro {
                    "macro"
                } else {
                    "micro"
                },
                kind.name()
            );
            let series = chart
                .draw_series(LineSeries::new(pts.iter().copied(), colour.stroke_width(3)))
                .map_err(s)?;
            if text {
                series.label(name).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(3))
                });
            }
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 4, colour.filled())))
                .map_err(s)?;
        }
        if text {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font(("sans-serif", 13))
                .draw()
                .map_err(s)?;
        }
        Ok(())
    })
}

/// Draws every plot into `dir`; returns their file names.
pub fn draw_all(
    dir: &Path,
    report: &EvalReport,
    real: &BTreeMap<String, Profile>,
    sets: &[(String, BTreeMap<String, Profile>)],
) -> Result<Vec<String>, EvalError> {
    let mut out = Vec::new();
    let mut real_all = Profile::default();
    real.values().for_each(|p| real_all.merge(p));
    for (name, profiles) in sets {
        let mut all = Profile::default();
        profiles.values().for_each(|p| all.merge(p));
        if all.fields.is_empty() || real_all.fields.is_empty() {
            continue;
        }
        let file = format!("distributions-{name}.png");
        distributions(&dir.join(&file), name, &real_all, &all)?;
        out.push(file);
    }
    if !report.similarity.is_empty() {
        similarity_bars(&dir.join("similarity.png"), report)?;
        out.push("similarity.png".to_string());
    }
    if let Some(first) = report
        .ml
        .results
        .iter()
        .find(|r| matches!(r.scenario, Scenario::Mix { .. }))
    {
        let set = first.set.clone();
        mixing(&dir.join("mixing.png"), report, &set)?;
        out.push("mixing.png".to_string());
    }
    Ok(out)
}

/// The category whose tick sits at axis position `x` (categories at 0, 1, …, `n` − 1), if any.
fn category_at(x: f64, n: usize) -> Option<usize> {
    let i = x.round();
    ((x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n).then_some(i as usize)
}

/// Offered flows per class beside those that passed a device whole, in part, or not at all:
/// the picture of a [`Score`](crate::truth::Score).
pub fn score_chart(path: &Path, score: &crate::truth::Score) -> Result<(), EvalError> {
    let text = font_available();
    let classes: Vec<(&String, &crate::truth::ClassScore)> = score.classes.iter().collect();
    let n = classes.len().max(1);
    let top = classes
        .iter()
        .map(|(_, c)| c.offered)
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * 1.1;
    let width = (220 + 110 * n as u32).min(4000);
    let names: Vec<String> = classes.iter().map(|(c, _)| c.to_string()).collect();
    let values: Vec<Vec<f64>> = classes
        .iter()
        .map(|(_, c)| {
            [c.offered, c.passed, c.partial, c.blocked]
                .map(|v| v as f64)
                .to_vec()
        })
        .collect();
    let labels = ["offered", "passed", "partial", "blocked"];
    // Blue, green, orange, red.
    let colours = [SERIES[0], SERIES[2], SERIES[1], SERIES[3]];
    render(path, (width, 520), |root| {
        let bars = Bars {
            caption: "flows per class: offered, and passed whole / in part / blocked",
            y_desc: Some("flows"),
            names: &names,
            values: &values,
            colours: &colours,
            top,
        };
        let mut chart = bars.draw(root, text)?;
        let colour = |j: usize| colours[j];
        if text {
            for (j, l) in labels.iter().enumerate() {
                chart
                    .draw_series([Rectangle::new(
                        [
                            (-0.45, top * (0.97 - 0.05 * j as f64)),
                            (-0.38, top * (0.94 - 0.05 * j as f64)),
                        ],
                        colour(j).filled(),
                    )])
                    .map_err(s)?;
                chart
                    .draw_series([Text::new(
                        l.to_string(),
                        (-0.35, top * (0.975 - 0.05 * j as f64)),
                        ("sans-serif", 13),
                    )])
                    .map_err(s)?;
            }
        }
        Ok(())
    })
}
