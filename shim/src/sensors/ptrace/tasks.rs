//! Which traced thread belongs to which process.
//!
//! The engine needs this to tell a new thread from a new process, a thread's exit from a process's, and
//! to drop the other threads' state when one of them execs (ptrace(2), "execve(2) under ptrace": all
//! other threads vanish, the execing thread takes the leader's id, the leader's death may never be
//! reported).

use std::collections::HashMap;

use libc::pid_t;

#[derive(Debug, Default)]
pub struct Tasks {
    /// tid -> tgid for every live traced task.
    tgid_of: HashMap<pid_t, pid_t>,
    /// tgid -> number of traced tasks in it.
    count: HashMap<pid_t, u32>,
}

impl Tasks {
    pub fn insert(&mut self, tid: pid_t, tgid: pid_t) {
        if let Some(old) = self.tgid_of.insert(tid, tgid) {
            self.dec(old);
        }
        *self.count.entry(tgid).or_insert(0) += 1;
    }

    fn dec(&mut self, tgid: pid_t) {
        if let Some(c) = self.count.get_mut(&tgid) {
            *c -= 1;
            if *c == 0 {
                self.count.remove(&tgid);
            }
        }
    }

    pub fn tgid(&self, tid: pid_t) -> Option<pid_t> {
        self.tgid_of.get(&tid).copied()
    }

    /// Forgets a task that exited; returns its tgid if it was known.
    pub fn remove(&mut self, tid: pid_t) -> Option<pid_t> {
        let tgid = self.tgid_of.remove(&tid)?;
        self.dec(tgid);
        Some(tgid)
    }

    /// After an exec by any thread of `tgid`: only the leader (with the id `tgid`) remains.
    pub fn exec_collapse(&mut self, tgid: pid_t) {
        if self.count.get(&tgid).copied().unwrap_or(0) > 1 {
            let stale: Vec<pid_t> = self
                .tgid_of
                .iter()
                .filter(|(tid, g)| **g == tgid && **tid != tgid)
                .map(|(t, _)| *t)
                .collect();
            for tid in stale {
                self.remove(tid);
            }
        }
        self.insert(tgid, tgid);
    }

    pub fn len(&self) -> usize {
        self.tgid_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tgid_of.is_empty()
    }

    pub fn processes(&self) -> usize {
        self.count.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_from_a_thread_leaves_only_the_leader() {
        let mut t = Tasks::default();
        t.insert(10, 10);
        t.insert(11, 10);
        t.insert(12, 10);
        t.insert(20, 20);
        assert_eq!(t.len(), 4);
        // thread 12 execs: it becomes 10, 11 is gone.
        t.exec_collapse(10);
        assert_eq!(t.len(), 2);
        assert_eq!(t.tgid(10), Some(10));
        assert_eq!(t.tgid(11), None);
        assert_eq!(t.tgid(20), Some(20));
        assert_eq!(t.processes(), 2);
    }

    #[test]
    fn reinsert_moves_between_groups() {
        let mut t = Tasks::default();
        t.insert(5, 5);
        t.insert(5, 7);
        assert_eq!(t.processes(), 1);
        assert_eq!(t.remove(5), Some(7));
        assert!(t.is_empty());
        assert_eq!(t.remove(5), None);
    }
}
