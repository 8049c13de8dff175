//! /proc: reading what a process is (capture), what its sockets are connected to (sockets), which
//! processes exist and descend from us (scan), and the table of processes seen so far (table).
//! `parse` holds the pure parsers the readers use.
#![forbid(unsafe_code)]

pub mod capture;
pub mod fds;
pub mod maps;
pub mod net;
pub mod parse;
pub mod scan;
pub mod sensors;
pub mod sockets;
pub mod table;
