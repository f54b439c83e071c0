//! The `trimtab` command-line tool: simulations and reports over the public Rust API.
//!
//! Each subcommand lives in its own module; `main` only parses and dispatches. Errors are
//! printed with their context (file, field, reason) and exit with status 2; nothing here
//! panics on bad input.

mod mapfile;
mod migrate;
mod place;
mod simulate;
mod story_health;
mod units;

use clap::{Parser, Subcommand};

mod detect;
mod migrate_sim;
mod partition;

#[derive(Parser)]
#[command(name = "trimtab", version, about = "The decision core of a distributed storage cluster, as a tool")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the built-in default cluster through a short story and print what each step did.
    Simulate(simulate::Args),
    /// Place PGs on the devices of a map file and report the balance.
    Place(place::PlaceArgs),
    /// The movement plan between two map files.
    Plan(place::PlanArgs),
    /// The movement plan between two map files, run through the scheduler and throttle.
    Migrate(migrate::MigrateArgs),
    /// Simulate a synthetic movement plan through the migration scheduler and throttle.
    MigrateSim(migrate_sim::MigrateSimArgs),
    /// Components, modes, leaders and partial partitions from connectivity reports.
    Partition(partition::PartitionArgs),
    /// Replay a heartbeat trace through the failure detector (or generate one).
    Detect(detect::DetectArgs),
}

fn main() {
    // Behave like a Unix filter: a closed pipe (`trimtab ... | head`) ends the process
    // quietly instead of a panic on the next print.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result: Result<(), String> = match cli.command {
        Command::Simulate(a) => simulate::run(a),
        Command::Place(a) => place::run_place(a),
        Command::Plan(a) => place::run_plan(a),
        Command::Migrate(a) => migrate::run(a),
        Command::MigrateSim(a) => migrate_sim::run(a),
        Command::Partition(args) => partition::run(args),
        Command::Detect(a) => detect::run(a),
    };
    if let Err(e) = result {
        eprintln!("trimtab: {e}");
        std::process::exit(2);
    }
}
