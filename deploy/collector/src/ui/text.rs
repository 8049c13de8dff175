//! Small text helpers shared by the pages: a leaf module (it imports no page), so pages can share
//! them without importing one another.
#![forbid(unsafe_code)]

use crate::storage::query::encode_params;

/// A path segment, percent-encoded (finding ids are ours to link, but come from senders).
pub fn encode_path(s: &str) -> String {
    encode_params(&[("", s.to_string())]).trim_start_matches('=').to_string()
}

pub fn short(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        s.chars().take(n).collect::<String>() + "…"
    } else {
        s.to_string()
    }
}
