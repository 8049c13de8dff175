//! The `runwarden` binary: parse, configure, run, exit.
//!
//! `#![no_main]`: Rust's runtime sets SIGPIPE to ignored before `main` runs, and a supervisor must hand
//! its workload the signal dispositions it was started with (tini's test suite checks exactly this).
//! Skipping the runtime's start-up leaves every disposition as the parent set it.
#![no_main]

use std::ffi::{c_char, c_int};

#[no_mangle]
pub extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    // Large freed blocks go back to the kernel instead of staying resident (`sys::pin_mmap_threshold`).
    runwarden::sys::pin_mmap_threshold();
    let code = runwarden::cli::run(std::env::args_os());
    // The only exit of the program; std's exit flushes stdout.
    std::process::exit(code)
}
