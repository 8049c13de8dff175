//! Heartbeats: each native HTTP sink tells the endpoint, every `RUNWARDEN_HEARTBEAT` (default 60 s,
//! `off` disables), that this instance is alive and watching, with cumulative counts, so a collector
//! can tell "no findings" from "no runwarden". The contract is `docs/HEARTBEAT.md` (the type is
//! `runwarden_contract::Heartbeat`, shared with the collector): `{"findings": [...], "heartbeat": {...}}`, the heartbeat riding in the next batch's
//! body or alone with `"findings": []`; `final: true` once at shutdown.
//!
//! Sensors never wait for a heartbeat: the pipeline thread only bumps atomic counters in [`Vitals`];
//! the sink's own thread builds and sends heartbeats. A heartbeat is built fresh for each attempt (a
//! new `heartbeatId`, the counts of that moment) and counts as sent only when the endpoint took the
//! request, so one that failed is not retried as such: the next attempt carries a newer one.
//!
//! falcosidekick has no heartbeat input (its `FalcoPayload` is one event), so `falco+` sinks send none.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use crate::detect::engine::Mode;
use runwarden_contract::Resource;

/// `RUNWARDEN_HEARTBEAT`'s default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// The shortest interval accepted: a collector flags silence after 2.5 intervals, and shorter ones
/// would only cost requests.
pub const MIN_INTERVAL: Duration = Duration::from_secs(5);

/// What the sensors feed in, shared by every sink: written by the pipeline thread, read by the sink
/// threads.
#[derive(Debug, Default)]
pub struct Vitals {
    /// Process and file events the pipeline received.
    pub events: AtomicU64,
    /// Findings handed to the sinks (summaries included).
    pub findings: AtomicU64,
    sensor: AtomicU8,
}

/// Which sensor feeds the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SensorState {
    /// Not started yet (or not at all).
    Off = 0,
    Ptrace = 1,
    Poll = 2,
    Seccomp = 3,
}

impl Vitals {
    pub fn set_sensor(&self, s: SensorState) {
        self.sensor.store(s as u8, Ordering::Relaxed);
    }

    pub fn sensor(&self) -> &'static str {
        match self.sensor.load(Ordering::Relaxed) {
            1 => "ptrace",
            2 => "poll",
            3 => "seccomp",
            _ => "off",
        }
    }
}

/// What every heartbeat of this run says besides the counts.
#[derive(Debug, Clone)]
pub struct Context {
    pub vitals: Arc<Vitals>,
    pub resource: Resource,
    pub mode: Mode,
    pub start_time: SystemTime,
}

impl Default for Context {
    fn default() -> Self {
        Context {
            vitals: Arc::default(),
            resource: Resource::default(),
            mode: Mode::Detect,
            start_time: SystemTime::now(),
        }
    }
}

/// One sink's counts, cumulative since start.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatCounts {
    pub delivered: u64,
    pub retries: u64,
    pub shed: u64,
    pub spooled: u64,
    pub rejected: u64,
}

/// One sink's heartbeat schedule.
pub struct Beat {
    context: Arc<Context>,
    interval: Duration,
    /// When the last heartbeat was accepted (start: the first is due one interval after start).
    last: Instant,
    final_sent: bool,
}

impl Beat {
    pub fn new(context: Arc<Context>, interval: Duration) -> Beat {
        Beat { context, interval, last: Instant::now(), final_sent: false }
    }

    /// When the next periodic heartbeat is due.
    pub fn due_at(&self) -> Instant {
        self.last + self.interval
    }

    /// Whether a request sent now carries a heartbeat, and whether it is the final one: the final
    /// one rides on the last request at shutdown (`last`), a periodic one on any request once due.
    pub fn wanted(&self, last: bool, now: Instant) -> Option<bool> {
        if last && !self.final_sent {
            return Some(true);
        }
        (!self.final_sent && now >= self.due_at()).then_some(false)
    }

    /// The final heartbeat is still to be sent.
    pub fn final_pending(&self) -> bool {
        !self.final_sent
    }

    /// The endpoint answered a request carrying a heartbeat (accepted or refused it for good).
    pub fn answered(&mut self, is_final: bool, now: Instant) {
        self.last = now;
        self.final_sent |= is_final;
    }

    /// The heartbeat object of the contract.
    pub fn build(&self, is_final: bool, counts: HeartbeatCounts) -> Value {
        let c = &self.context;
        let v = &c.vitals;
        json!({
            "heartbeatId": uuid::Uuid::now_v7().to_string(),
            "time": crate::events::rfc3339::format(SystemTime::now()),
            "startTime": crate::events::rfc3339::format(c.start_time),
            "intervalSeconds": self.interval.as_secs(),
            "final": is_final,
            "runwardenVersion": env!("CARGO_PKG_VERSION"),
            "sensor": v.sensor(),
            "mode": match c.mode { Mode::Detect => "detect", Mode::Enforce => "enforce" },
            "resource": serde_json::to_value(&c.resource).unwrap_or_else(|_| json!({})),
            // Tells instances apart where the resource does not (a local Docker run: the container id).
            "hostname": hostname(),
            "counts": {
                "events": v.events.load(Ordering::Relaxed),
                "findings": v.findings.load(Ordering::Relaxed),
                "delivered": counts.delivered,
                "retries": counts.retries,
                "shed": counts.shed,
                "spooled": counts.spooled,
                "rejected": counts.rejected,
            },
        })
    }
}

/// The kernel's hostname (UTS namespace), "" when unreadable.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_and_shape() {
        let context = Arc::new(Context::default());
        context.vitals.events.fetch_add(7, Ordering::Relaxed);
        context.vitals.set_sensor(SensorState::Ptrace);
        let mut b = Beat::new(context, Duration::from_secs(5));
        let t0 = Instant::now();
        assert_eq!(b.wanted(false, t0), None, "not due before one interval");
        assert_eq!(b.wanted(false, t0 + Duration::from_secs(6)), Some(false));
        assert_eq!(b.wanted(true, t0), Some(true), "the final one goes with the last request");
        b.answered(false, t0 + Duration::from_secs(6));
        assert_eq!(b.wanted(false, t0 + Duration::from_secs(10)), None);
        let h = b.build(true, HeartbeatCounts { delivered: 3, ..HeartbeatCounts::default() });
        assert_eq!(h["final"], true);
        assert_eq!(h["intervalSeconds"], 5);
        assert_eq!(h["sensor"], "ptrace");
        assert_eq!(h["mode"], "detect");
        assert_eq!(h["counts"]["events"], 7);
        assert_eq!(h["counts"]["delivered"], 3);
        assert_eq!(h["counts"].as_object().unwrap().len(), 7);
        assert!(h["time"].as_str().unwrap().ends_with('Z'));
        assert_eq!(h["time"].as_str().unwrap().len(), "2026-11-22T23:59:59.123456Z".len());
        assert!(h["resource"].is_object());
        b.answered(true, t0 + Duration::from_secs(11));
        assert_eq!(b.wanted(true, t0 + Duration::from_secs(100)), None, "final is sent once");
        assert!(!b.final_pending());
    }
}
