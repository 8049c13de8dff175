//! The one way events travel from the sensors to the pipeline: an [`EventSender`] per producer, one
//! [`EventReceiver`] for the consumer, over the bounded [`Queue`](super::queue::Queue).
//!
//! When the queue is full a sender *waits* rather than drop an event, because every exec must be seen;
//! the stall is counted. Events sent after the consumer closed the queue are counted as lost.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::queue::{Queue, Take};
use super::{ProcessEvent, Tracking};

/// What travels on the queue.
pub enum Msg {
    /// The tracer knows how it sees the workload and the main pid: scanning can start.
    Begin {
        tracking: Tracking,
        main_pid: i32,
    },
    Event(ProcessEvent),
}

/// A sensor's handle on the queue.
#[derive(Clone)]
pub struct EventSender {
    queue: Arc<Queue<Msg>>,
    /// Events refused because the consumer had already closed the queue.
    lost: Arc<AtomicU64>,
}

impl EventSender {
    fn push(&self, msg: Msg) {
        if !self.queue.push(msg) {
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn send(&self, ev: ProcessEvent) {
        self.push(Msg::Event(ev));
    }

    pub fn begin(&self, tracking: Tracking, main_pid: i32) {
        self.push(Msg::Begin { tracking, main_pid });
    }
}

/// The consumer's end (cloneable so that a guard can close the queue from another place).
#[derive(Clone)]
pub struct EventReceiver {
    queue: Arc<Queue<Msg>>,
    lost: Arc<AtomicU64>,
}

impl EventReceiver {
    /// See [`Queue::take`].
    pub fn take(&self, busy: bool, idle_timeout: Duration) -> Take<Msg> {
        self.queue.take(busy, idle_timeout)
    }

    /// Everything queued now, without waiting.
    pub fn take_now(&self) -> Vec<Msg> {
        self.queue.take_now()
    }

    /// No more events are accepted; what is queued can still be taken.
    pub fn close(&self) {
        self.queue.close();
    }

    /// Times a sender found the queue full and waited.
    pub fn stalls(&self) -> u64 {
        self.queue.stalls()
    }

    /// Events sent after the queue was closed.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }
}

/// A queue of `capacity` messages and its two ends.
pub fn channel(capacity: usize) -> (EventSender, EventReceiver) {
    let queue = Arc::new(Queue::new(capacity));
    let lost = Arc::new(AtomicU64::new(0));
    (EventSender { queue: queue.clone(), lost: lost.clone() }, EventReceiver { queue, lost })
}
