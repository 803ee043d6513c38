//! The `netdiffd` binary: parses the command line and runs the subcommand.

mod cli;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("netdiffd: error: {}", cli::error_line(&e));
            std::process::exit(2);
        }
    }
}
