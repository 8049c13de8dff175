//! The bounded queue between the tracer (producer) and the pipeline (consumer), built so that a busy
//! tracer does not wake the pipeline once per event.
//!
//! Every wake-up of another thread costs a cross-CPU interrupt on a VM whose idle vCPUs halt, and the
//! tracer produces about three events per fork+exec. So the consumer, once woken, drains and then
//! *polls* every [`BUSY_POLL_INTERVAL`] while events keep coming; only when it has found the queue empty
//! does it go to sleep for good, and only then does a producer pay a wake-up (the first event after a
//! quiet spell). Detection latency stays bounded by the poll interval.
//!
//! When the queue is full the producer waits for room: every exec must be seen, so a stalled consumer
//! slows the workload down rather than losing events; the stall is counted.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// How often a consumer that is keeping up with a stream of events looks for more.
pub const BUSY_POLL_INTERVAL: Duration = Duration::from_millis(5);

struct State<T> {
    items: VecDeque<T>,
    capacity: usize,
    /// The consumer sleeps until woken (it found the queue empty last time).
    consumer_idle: bool,
    /// The producer side is gone: the consumer drains what is left and stops.
    closed: bool,
    /// Pushes that found the queue full and waited.
    stalls: u64,
}

pub struct Queue<T> {
    state: Mutex<State<T>>,
    /// Signalled to wake an idle consumer, or a producer waiting for room.
    changed: Condvar,
}

/// What the consumer got from one [`Queue::take`].
pub enum Take<T> {
    Items(Vec<T>),
    /// Nothing arrived before the deadline.
    TimedOut,
    /// The queue is closed and empty.
    Closed,
}

impl<T> Queue<T> {
    pub fn new(capacity: usize) -> Self {
        Queue {
            state: Mutex::new(State {
                items: VecDeque::new(),
                capacity: capacity.max(1),
                consumer_idle: false,
                closed: false,
                stalls: 0,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        // A panic while holding the lock leaves plain data behind; keep going (fail open).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an item; waits while the queue is full. Returns false if the queue is closed.
    pub fn push(&self, item: T) -> bool {
        let mut st = self.lock();
        if st.items.len() >= st.capacity {
            st.stalls += 1;
            // The consumer must be awake to make room.
            self.changed.notify_all();
            while st.items.len() >= st.capacity && !st.closed {
                st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
            }
        }
        if st.closed {
            return false;
        }
        st.items.push_back(item);
        if st.consumer_idle {
            st.consumer_idle = false;
            self.changed.notify_all();
        }
        true
    }

    /// Takes everything queued. With items pending, returns at once. Otherwise waits: when `busy` is
    /// true (the caller just processed items) for at most [`BUSY_POLL_INTERVAL`] without asking to be
    /// woken, else until a producer wakes it or `idle_timeout` passes.
    pub fn take(&self, busy: bool, idle_timeout: Duration) -> Take<T> {
        let mut st = self.lock();
        if st.items.is_empty() && !st.closed {
            if busy {
                let (s, _) = self
                    .changed
                    .wait_timeout(st, BUSY_POLL_INTERVAL.min(idle_timeout))
                    .unwrap_or_else(|p| p.into_inner());
                st = s;
            } else {
                st.consumer_idle = true;
                let (s, _) = self.changed.wait_timeout(st, idle_timeout).unwrap_or_else(|p| p.into_inner());
                st = s;
                st.consumer_idle = false;
            }
        }
        if st.items.is_empty() {
            return if st.closed { Take::Closed } else { Take::TimedOut };
        }
        let was_full = st.items.len() >= st.capacity;
        let items: Vec<T> = st.items.drain(..).collect();
        if was_full {
            self.changed.notify_all();
        }
        Take::Items(items)
    }

    /// Takes everything queued now, without waiting.
    pub fn take_now(&self) -> Vec<T> {
        let mut st = self.lock();
        let was_full = st.items.len() >= st.capacity;
        let items: Vec<T> = st.items.drain(..).collect();
        if was_full {
            self.changed.notify_all();
        }
        items
    }

    /// No more items will come; the consumer drains what is left.
    pub fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        self.changed.notify_all();
    }

    pub fn stalls(&self) -> u64 {
        self.lock().stalls
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn delivers_everything_in_order_through_a_small_queue() {
        let q = Arc::new(Queue::new(8));
        let producer = {
            let q = q.clone();
            std::thread::spawn(move || {
                for i in 0..10_000u32 {
                    assert!(q.push(i));
                }
                q.close();
            })
        };
        let mut got = Vec::new();
        let mut busy = false;
        loop {
            match q.take(busy, Duration::from_secs(5)) {
                Take::Items(v) => {
                    busy = true;
                    got.extend(v);
                }
                Take::TimedOut => busy = false,
                Take::Closed => break,
            }
        }
        producer.join().unwrap();
        assert_eq!(got, (0..10_000).collect::<Vec<_>>());
        assert!(q.stalls() > 0, "a queue of 8 must have filled up");
    }

    #[test]
    fn an_idle_consumer_is_woken_by_a_push() {
        let q = Arc::new(Queue::new(8));
        let consumer = {
            let q = q.clone();
            std::thread::spawn(move || match q.take(false, Duration::from_secs(30)) {
                Take::Items(v) => v,
                _ => panic!("not woken"),
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        let t = std::time::Instant::now();
        q.push(7);
        assert_eq!(consumer.join().unwrap(), vec![7]);
        assert!(t.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn push_after_close_is_refused() {
        let q = Queue::new(2);
        q.close();
        assert!(!q.push(1));
        assert!(matches!(q.take(false, Duration::from_millis(1)), Take::Closed));
    }
}
