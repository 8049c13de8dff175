//! Files: content hashing with a metadata-keyed cache, the image baseline (what "added" and
//! "modified" mean at run time), and the file watcher (inotify).
#![forbid(unsafe_code)]

pub mod baseline;
pub mod hash;
pub mod watch;
