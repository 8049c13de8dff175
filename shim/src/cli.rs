//! The command line: `runwarden [--] COMMAND [ARGS...]`, `--help`, `--version`.
#![forbid(unsafe_code)]

use std::ffi::OsString;

use clap::Parser;

use crate::config::{Config, VARIABLES};

#[derive(Debug, Parser)]
#[command(
    name = "runwarden",
    version,
    about = "Runs COMMAND as the container's supervised workload: signals forwarded, zombies reaped, exit code \
             passed through, and every process it starts traced.",
    after_help = after_help()
)]
pub struct Cli {
    /// The workload and its arguments (put `--` before it if it starts with a dash).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

fn after_help() -> String {
    let mut s = String::from("Configuration (environment variables):\n");
    for (name, accepts) in VARIABLES {
        s.push_str(&format!("  {name}\n      {accepts}\n"));
    }
    s
}

/// Exit code for usage and configuration errors (the workload is not started).
pub const EXIT_USAGE: i32 = 2;

/// Parses the command line and the environment, runs the workload, and returns the exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            crate::log::init(crate::config::LogLevel::Info);
            tracing::error!("runwarden: {e}; the workload was not started");
            return EXIT_USAGE;
        }
    };
    crate::log::init(config.log);
    match crate::supervisor::run(&config, &cli.command) {
        Ok(r) => r.exit_code,
        Err(e) => {
            tracing::error!("runwarden: {e}");
            EXIT_USAGE
        }
    }
}
