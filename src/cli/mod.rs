//! The `netdiffd` command line: one subcommand a pipeline stage, each in its own file.

mod baseline;
mod bench;
mod check;
mod dataset;
mod decode;
mod encode;
mod eval;
mod generate;
mod matrix_input;
mod output;
mod render;
mod repair;
mod replay;
mod score;
mod serve;
mod shared_args;
mod train;

use clap::{Parser, Subcommand};

/// netdiffd: learn traffic classes from real captures, generate synthetic flows, repair them
/// into protocol-compliant packets and replay them.
#[derive(Debug, Parser)]
#[command(name = "netdiffd", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Encode a capture as nPrint CSV (a drop-in for the nPrint tool: same options, same output).
    Encode(encode::EncodeArgs),
    /// Decode nPrint CSV back into a pcap (headers exactly as the bits say; no repair).
    Decode(decode::DecodeArgs),
    /// Render a flow (from a capture, an nPrint CSV or a PNG) as a NetDiffusion-style picture.
    Render(render::RenderArgs),
    /// Repair a generated flow (nPrint CSV or NetDiffusion PNG) into a protocol-compliant pcap.
    Repair(repair::RepairArgs),
    /// Build a training set from labelled captures (one folder a class, or a labels CSV).
    Dataset(dataset::DatasetArgs),
    /// Train the diffusion model on a training set.
    Train(train::TrainArgs),
    /// Generate flows of a class mix with a model, repair them and write a pcap.
    Generate(generate::GenerateArgs),
    /// Measure the speed of a pipeline stage on inputs built from the corpus.
    Bench(bench::BenchArgs),
    /// Check a capture for protocol compliance and report violations by rule.
    Check(check::CheckArgs),
    /// Replay capture files onto a network interface (tcpreplay's modes, timing and statistics).
    ///
    /// Timing follows the capture unless --multiplier, --pps, --mbps or --topspeed says
    /// otherwise. Durations take a unit (ns, us, ms, s; a bare number is seconds). Ctrl-C stops
    /// at a packet boundary and prints the statistics.
    Replay(Box<replay::ReplayArgs>),
    /// Evaluate synthetic traffic against real traffic: similarity, ML usefulness, compliance.
    Eval(eval::EvalArgs),
    /// Generate baseline synthetic traffic (uniform random values or per-class bit marginals).
    Baseline(baseline::BaselineArgs),
    /// Score a device under test: which offered flows (ground truth) arrived beyond it whole,
    /// in part, or not at all, per flow and per class.
    Score(score::ScoreArgs),
    /// Run the daemon: HTTP API, schedules, metrics, systemd integration (see docs/service.md).
    Serve(serve::ServeArgs),
}

/// Runs the parsed command line; the process exit code on success.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Encode(a) => encode::run(&a),
        Command::Bench(a) => bench::run(&a),
        Command::Check(a) => check::run(&a),
        Command::Dataset(a) => dataset::run(&a),
        Command::Decode(a) => decode::run(&a),
        Command::Generate(a) => generate::run(&a),
        Command::Train(a) => train::run(&a),
        Command::Render(a) => render::run(&a),
        Command::Repair(a) => repair::run(&a),
        Command::Replay(a) => replay::run(&a).map(|()| 0),
        Command::Eval(a) => eval::run(&a),
        Command::Baseline(a) => baseline::run(&a),
        Command::Serve(a) => serve::run(&a),
        Command::Score(a) => score::run(&a),
    }
}

/// An error and its causes as one line, `outer: cause: cause`, leaving out each cause whose text
/// the line already holds: the library's errors spell their cause in their own message (so that
/// an API response or a log line carries it) and also hand it on as their source, and printed
/// whole the chain said it twice (`card.json: No such file or directory (os error 2): No such
/// file or directory (os error 2)`).
pub fn error_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::error_line;
    use anyhow::Context;

    #[derive(Debug, thiserror::Error)]
    #[error("{path}: {source}")]
    struct Spelt {
        path: String,
        source: std::io::Error,
    }

    fn missing() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::NotFound, "no such file")
    }

    #[test]
    fn a_cause_is_said_once() {
        let spelt = Spelt {
            path: "card.json".into(),
            source: missing(),
        };
        let e = anyhow::Error::new(spelt).context("loading model m");
        assert_eq!(error_line(&e), "loading model m: card.json: no such file");
        // A cause its outer message does not spell is kept, in chain order.
        let e = anyhow::Error::new(missing())
            .context("reading x")
            .context("job 3");
        assert_eq!(error_line(&e), "job 3: reading x: no such file");
        let e: anyhow::Result<()> = Err(missing()).context("opening y");
        assert_eq!(error_line(&e.unwrap_err()), "opening y: no such file");
    }
}
