//! The `trimtab` command-line tool: simulations and reports over the public Rust API.
//!
//! Each subcommand lives in its own module; `main` only parses and dispatches. Errors are
//! printed with their context (file, field, reason) and exit with status 2; nothing here
//! panics on bad input.

use clap::{Parser, Subcommand};

mod detect;

#[derive(Parser)]
#[command(name = "trimtab", version, about = "The decision core of a distributed storage cluster, as a tool")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay a heartbeat trace through the failure detector (or generate one).
    Detect(detect::DetectArgs),
}

fn main() {
    let cli = Cli::parse();
    let result: Result<(), String> = match cli.command {
        Command::Detect(a) => detect::run(a),
    };
    if let Err(e) = result {
        eprintln!("trimtab: {e}");
        std::process::exit(2);
    }
}
