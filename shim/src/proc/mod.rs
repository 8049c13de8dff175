//! /proc readers shared by the sensors and enrichment: what a process is (capture), what its sockets
//! are connected to (sockets), which processes exist and descend from us (tree). `parse` holds the
//! pure parsers the readers use.
#![forbid(unsafe_code)]

pub mod capture;
pub mod files;
pub mod parse;
pub mod sockets;
pub mod tree;
