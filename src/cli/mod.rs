//! The `netdiffd` command line: one subcommand a pipeline stage, each in its own file.

mod replay;

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
    /// Replay capture files onto a network interface (tcpreplay's modes, timing and statistics).
    ///
    /// Timing follows the capture unless --multiplier, --pps, --mbps or --topspeed says
    /// otherwise. Durations take a unit (ns, us, ms, s; a bare number is seconds). Ctrl-C stops
    /// at a packet boundary and prints the statistics.
    Replay(replay::ReplayArgs),
}

/// Runs the parsed command line; the process exit code on success.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Replay(a) => replay::run(&a).map(|()| 0),
    }
}
