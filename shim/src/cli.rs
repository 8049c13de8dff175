//! The command line: `runwarden [--] COMMAND [ARGS...]`, `--help`, `--version`.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::Parser;

use crate::config::{Config, VARIABLES};
use crate::detect::engine::{Engine, Mode as DetectMode};
use crate::detect::policy::{LoadedRule, Policy, PolicyErrors, RuleAction};
use crate::enrich::enricher::Intel;
use crate::pipeline::Detection;

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

/// Loads the default policies plus `dir`, compiles them, and reports every error (file, line, rule).
pub fn load_detection(dir: Option<&Path>) -> Result<Engine, PolicyErrors> {
    let policy = Policy::load_with_dir(dir)?;
    Engine::new(policy, crate::ship::resource::from_env())
}

/// The pipeline's detection stage and, in enforce mode, the tracer's enforcing rules. Rules with a
/// `kill` or `stop` action go to the enforcer (evaluated before the process runs) and not to the
/// pipeline, so each finding is raised once.
///
/// Start-up cost: only the rules a user supplied are compiled here (so a broken one stops the start),
/// plus the enforcing rules (they must be ready at the first exec), and the user's signatures and IoC
/// lists. The pipeline compiles the built-in rest on its own thread, off the workload's start path;
/// nothing is compiled twice. With neither a user directory nor enforcement there is nothing to check
/// before the start, and the built-in policy is not even parsed here (the test suite checks it).
fn load_engines(config: &Config) -> Result<(Detection, Option<Engine>), PolicyErrors> {
    let resource = crate::ship::resource::from_env();
    let enforce = config.mode == DetectMode::Enforce;
    if config.policies.is_none() && !enforce {
        let detection = Detection {
            policy: None,
            user_rules: Engine::with_rules(Policy::default(), resource.clone(), |_| false)?,
            intel: None,
            policy_dir: None,
            resource,
            skip_enforcing: false,
            mode: config.mode,
            sinks: config.sinks.clone(),
        };
        return Ok((detection, None));
    }
    let policy = Policy::load_with_dir(config.policies.as_deref())?;
    let enforcing = |r: &LoadedRule| enforce && r.spec.action != RuleAction::Alert;
    let user_rules = Engine::with_rules(policy.clone(), resource.clone(), |r| {
        r.origin.source != "builtin" && !enforcing(r)
    })?;
    let enforcer = Engine::with_rules(policy.clone(), resource.clone(), enforcing)?;
    let enforcer = (enforcer.rules().count() > 0).then_some(enforcer);
    let intel = match config.policies.as_deref() {
        // A broken user signature or IoC file stops the start like a broken rule does.
        Some(dir) => Some(
            Intel::load(Some(dir))
                .map_err(|message| PolicyErrors::file_level(dir.display().to_string(), message))?,
        ),
        None => None,
    };
    let detection = Detection {
        policy: Some(policy),
        user_rules,
        intel,
        policy_dir: config.policies.clone(),
        resource,
        skip_enforcing: enforce,
        mode: config.mode,
        sinks: config.sinks.clone(),
    };
    Ok((detection, enforcer))
}

/// `runwarden policy check [DIR]`: validates the defaults plus DIR's files without running anything.
fn policy_check(args: &[OsString]) -> i32 {
    let dir = match args {
        [] => None,
        [d] => Some(PathBuf::from(d)),
        _ => {
            eprintln!("usage: runwarden policy check [DIR]");
            return EXIT_USAGE;
        }
    };
    match load_detection(dir.as_deref()) {
        Ok(engine) => {
            let n = engine.rules().count();
            let from_dir = engine.rules().filter(|r| r.rule.origin.source != "builtin").count();
            println!(
                "policies OK: {n} enabled rules ({from_dir} from {})",
                dir.as_deref().map(|d| d.display().to_string()).unwrap_or_else(|| "no user directory".into())
            );
            0
        }
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("{} error(s); nothing was loaded", errors.0.len());
            EXIT_USAGE
        }
    }
}

/// `runwarden baseline [--output PATH] [ROOT]`: records the image's executables and libraries.
fn baseline(args: &[OsString]) -> i32 {
    let usage = "usage: runwarden baseline [--output PATH] [ROOT]";
    let mut output = PathBuf::from(crate::enrich::baseline::DEFAULT_PATH);
    let mut root = PathBuf::from("/");
    let mut it = args.iter();
    let mut root_set = false;
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("--output" | "-o") => match it.next() {
                Some(p) => output = PathBuf::from(p),
                None => {
                    eprintln!("{usage}");
                    return EXIT_USAGE;
                }
            },
            Some("--help" | "-h") => {
                println!("{usage}\n\nRecords path, sha256, size and mode of every executable and shared library under ROOT \
                          (default /; /proc, /sys, /dev, /run excluded) into PATH (default {}).\nRun it as a RUN step \
                          of your image build, after the last step that installs software.", crate::enrich::baseline::DEFAULT_PATH);
                return 0;
            }
            _ if !root_set && !a.to_string_lossy().starts_with('-') => {
                root = PathBuf::from(a);
                root_set = true;
            }
            _ => {
                eprintln!("{usage}");
                return EXIT_USAGE;
            }
        }
    }
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let started = std::time::Instant::now();
    let taken =
        crate::enrich::baseline::take(&root, &output, workers).and_then(|b| b.write(&output).map(|_| b));
    match taken {
        Ok(b) => {
            println!(
                "baseline: {} files under {} recorded in {} ({} ms)",
                b.files.len(),
                root.display(),
                output.display(),
                started.elapsed().as_millis()
            );
            0
        }
        Err(e) => {
            eprintln!("runwarden baseline: {e}");
            1
        }
    }
}

/// Parses the command line and the environment, runs the workload, and returns the exit code.
///
/// `runwarden policy check [DIR]` and `runwarden baseline` are tool commands; a workload that is itself
/// called `policy` or `baseline` is run with `runwarden -- policy ...`.
pub fn run(args: impl IntoIterator<Item = OsString>) -> i32 {
    let args: Vec<OsString> = args.into_iter().collect();
    // The container's start time (for "changed since start" without a baseline), fixed first thing.
    std::sync::LazyLock::force(&crate::pipeline::STARTED);
    if args.get(1).is_some_and(|a| a == "baseline") {
        return baseline(&args[2..]);
    }
    if args.get(1).is_some_and(|a| a == "policy") {
        if args.get(2).is_some_and(|a| a == "check") {
            return policy_check(&args[3..]);
        }
        eprintln!(
            "usage: runwarden policy check [DIR]   (to run a program named policy: runwarden -- policy)"
        );
        return EXIT_USAGE;
    }
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
            crate::log::init(crate::log::LogLevel::Info);
            tracing::error!("runwarden: {e}; the workload was not started");
            return EXIT_USAGE;
        }
    };
    crate::log::init(config.log);
    // Policies are loaded before the workload starts: a broken policy must not run a weaker setup.
    let (detection, enforcer) = match load_engines(&config) {
        Ok(e) => e,
        Err(errors) => {
            tracing::error!("runwarden: the policies do not load; the workload was not started:\n{errors}");
            return EXIT_USAGE;
        }
    };
    match crate::supervisor::run(&config, &cli.command, Some(detection), enforcer) {
        Ok(r) => r.exit_code,
        Err(e) => {
            tracing::error!("runwarden: {e}");
            EXIT_USAGE
        }
    }
}
