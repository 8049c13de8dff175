//! Files: content hashing with a metadata-keyed cache, and the image baseline (what "added" and
//! "modified" mean at run time).
#![forbid(unsafe_code)]

pub mod baseline;
pub mod hash;
