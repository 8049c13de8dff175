//! Files: content hashing with a metadata-keyed cache (and, in later sensors, the inotify watcher and
//! the image baseline).
#![forbid(unsafe_code)]

pub mod hash;
