//! The `netdiffd` command line: one subcommand a pipeline stage, each in its own file.

mod bench;
mod check;
mod encode;
mod output;

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
    /// Measure the speed of a pipeline stage on inputs built from the corpus.
    Bench(bench::BenchArgs),
    /// Check a capture for protocol compliance and report violations by rule.
    Check(check::CheckArgs),
}

/// Runs the parsed command line; the process exit code on success.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Encode(a) => encode::run(&a),
        Command::Bench(a) => bench::run(&a),
        Command::Check(a) => check::run(&a),
    }
}
