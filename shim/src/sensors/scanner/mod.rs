//! The /proc and socket scanner: which processes exist and descend from us (scan), and the stdio,
//! connection and library probes it runs each pass (probes, with fds, maps and net).
#![forbid(unsafe_code)]

pub mod fds;
pub mod maps;
pub mod net;
pub mod netcount;
pub mod probes;
pub mod scan;

#[cfg(test)]
mod props;
