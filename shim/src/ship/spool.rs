//! Where the HTTP sink keeps findings it has not delivered yet: a bounded memory [`Shelf`] and an
//! optional bounded on-disk [`Spool`] (`RUNWARDEN_SPOOL_DIR`, at most `RUNWARDEN_SPOOL_MAX` bytes).
//!
//! Both have the same when-full policy: the least severe findings go first (the oldest of the lowest
//! severity present); a finding less severe than everything kept is the one shed. Nothing is dropped
//! without a record: every shed finding is counted per category in [`Shed`], which becomes one summary
//! finding ("Runwarden: Findings Shed") sent ahead of the next batch.
//!
//! The spool is a directory of files `SEQ-SEVERITY.jsonl`, one finding object per line (the contract),
//! one severity per file, rotated at a sixteenth of the bound. Files are delivered oldest first and
//! deleted only once every finding in them was accepted, so a crash or a restart delivers a file again
//! (at-least-once; receivers de-duplicate by `findingId`). A torn last line is skipped and counted.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use runwarden_contract::Severity;

/// One finding, serialized once (the contract's JSON) with what the queues need to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: String,
    pub severity: Severity,
    pub category: String,
    pub json: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Head {
    finding_id: String,
    severity: Severity,
    category: String,
}

impl Record {
    /// Reads a record back from its JSON line.
    pub fn parse(line: &str) -> Option<Record> {
        let h: Head = serde_json::from_str(line).ok()?;
        Some(Record { id: h.finding_id, severity: h.severity, category: h.category, json: line.to_string() })
    }

    fn cost(&self) -> u64 {
        self.json.len() as u64 + 1
    }
}

fn rank(s: Severity) -> usize {
    match s {
        Severity::Low => 0,
        Severity::Medium => 1,
        Severity::High => 2,
        Severity::Critical => 3,
    }
}

const SEVERITIES: [Severity; 4] = [Severity::Low, Severity::Medium, Severity::High, Severity::Critical];

/// Categories counted one by one in a summary; the rest are added up under "(other)".
const SHED_CATEGORIES_MAX: usize = 64;

/// The category of the summary of shed findings.
pub const SHED_CATEGORY: &str = "Runwarden: Findings Shed";

/// What was shed since the last summary.
#[derive(Debug, Default)]
pub struct Shed {
    by_category: BTreeMap<String, u64>,
    most_severe: Option<Severity>,
    /// A shed finding, the template of the summary (resource, rule source).
    first: Option<String>,
    /// Shed over the whole run.
    pub total: u64,
}

impl Shed {
    pub fn record(&mut self, r: &Record) {
        if self.first.is_none() {
            self.first = Some(r.json.clone());
        }
        if r.category == SHED_CATEGORY {
            // A summary shed in turn: its counts move into the next summary, so they stay on record
            // (and the run's total already has them).
            let v: Value = serde_json::from_str(&r.json).unwrap_or_default();
            if let Some(counts) = v["sourceProperties"]["shed"].as_object() {
                for (category, n) in counts {
                    self.count(category, r.severity, n.as_u64().unwrap_or(0));
                }
                return;
            }
        }
        self.count(&r.category, r.severity, 1);
        self.total += 1;
    }

    /// Adds `n` findings of `category` to the next summary (not to the run's total: a folded summary
    /// adds its counts, but is itself one record).
    fn count(&mut self, category: &str, severity: Severity, n: u64) {
        let key = if self.by_category.len() < SHED_CATEGORIES_MAX || self.by_category.contains_key(category) {
            category.to_string()
        } else {
            "(other)".to_string()
        };
        *self.by_category.entry(key).or_default() += n;
        self.most_severe = self.most_severe.max(Some(severity));
    }

    pub fn is_empty(&self) -> bool {
        self.by_category.is_empty()
    }

    /// The summary finding of what was shed since the last one, if anything was.
    pub fn summary(&mut self) -> Option<Record> {
        if self.by_category.is_empty() {
            return None;
        }
        let counts = std::mem::take(&mut self.by_category);
        let severity = self.most_severe.take().unwrap_or(Severity::Low);
        let template = self.first.take().and_then(|j| serde_json::from_str::<Value>(&j).ok());
        let n: u64 = counts.values().sum();
        let id = uuid::Uuid::now_v7().to_string();
        let now = crate::events::rfc3339::format(std::time::SystemTime::now());
        let mut v = match template {
            Some(Value::Object(m)) => Value::Object(m),
            _ => serde_json::json!({"state": "ACTIVE", "findingClass": "THREAT"}),
        };
        let category = SHED_CATEGORY;
        let obj = v.as_object_mut().expect("an object");
        for k in ["processes", "ancestors", "connections", "files", "indicator", "externalUri", "nextSteps"] {
            obj.remove(k);
        }
        obj.insert("findingId".into(), id.clone().into());
        obj.insert("category".into(), category.into());
        obj.insert("severity".into(), severity.as_str().into());
        obj.insert("eventTime".into(), now.clone().into());
        obj.insert("createTime".into(), now.into());
        obj.insert("processes".into(), Value::Array(vec![]));
        obj.insert(
            "description".into(),
            format!(
                "{n} findings were shed: the findings endpoint was failing and the buffer was full \
                 (least severe first); counts per category in sourceProperties.shed"
            )
            .into(),
        );
        obj.insert("mitreAttack".into(), serde_json::json!({"primaryTactic": "", "primaryTechniques": []}));
        obj.insert("action".into(), "ALERT".into());
        obj.insert("rule".into(), serde_json::json!({"id": "runwarden.ship.shed", "source": "builtin"}));
        obj.insert("sourceProperties".into(), serde_json::json!({"shed": counts, "shedTotal": n}));
        Some(Record { id, severity, category: category.into(), json: v.to_string() })
    }
}

/// The bounded memory queue: at most `max_len` findings and `max_bytes` of JSON.
pub struct Shelf {
    queues: [VecDeque<(u64, Record)>; 4],
    len: usize,
    bytes: u64,
    next_seq: u64,
    max_len: usize,
    max_bytes: u64,
}

impl Shelf {
    pub fn new(max_len: usize, max_bytes: u64) -> Self {
        Shelf { queues: Default::default(), len: 0, bytes: 0, next_seq: 0, max_len, max_bytes }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Keeps `r`, shedding the least severe findings (or `r` itself) to stay within the bounds.
    pub fn push(&mut self, r: Record, shed: &mut Shed) {
        while self.len + 1 > self.max_len || self.bytes + r.cost() > self.max_bytes {
            match self.queues.iter().position(|q| !q.is_empty()) {
                Some(lowest) if lowest <= rank(r.severity) => {
                    let (_, victim) = self.queues[lowest].pop_front().expect("non-empty");
                    self.len -= 1;
                    self.bytes -= victim.cost();
                    shed.record(&victim);
                }
                _ => {
                    shed.record(&r);
                    return;
                }
            }
        }
        self.len += 1;
        self.bytes += r.cost();
        self.queues[rank(r.severity)].push_back((self.next_seq, r));
        self.next_seq += 1;
    }

    /// The oldest finding kept, whatever its severity.
    pub fn pop_oldest(&mut self) -> Option<Record> {
        let q = self.queues.iter().enumerate().filter_map(|(i, q)| q.front().map(|(s, _)| (*s, i))).min()?.1;
        let (_, r) = self.queues[q].pop_front()?;
        self.len -= 1;
        self.bytes -= r.cost();
        Some(r)
    }

    /// Everything kept, oldest first.
    pub fn drain(&mut self) -> Vec<Record> {
        std::iter::from_fn(|| self.pop_oldest()).collect()
    }
}

struct Writer {
    seq: u64,
    file: File,
    bytes: u64,
}

/// The bounded on-disk spool of one sink.
pub struct Spool {
    dir: PathBuf,
    max: u64,
    file_cap: u64,
    /// Closed and open files: seq -> (severity rank, bytes).
    files: BTreeMap<u64, (usize, u64)>,
    writers: [Option<Writer>; 4],
    /// The file being delivered: not shed, still counted.
    checked_out: Option<(u64, usize, u64)>,
    total: u64,
    next_seq: u64,
    /// Lines that could not be read back (a torn write).
    pub corrupt: u64,
    /// Findings written to the spool.
    pub written: u64,
}

fn file_name(seq: u64, rank: usize) -> String {
    format!("{seq:020}-{}.jsonl", SEVERITIES[rank].as_str().to_ascii_lowercase())
}

fn parse_name(name: &str) -> Option<(u64, usize)> {
    let stem = name.strip_suffix(".jsonl")?;
    let (seq, sev) = stem.split_once('-')?;
    let rank = SEVERITIES.iter().position(|s| s.as_str().eq_ignore_ascii_case(sev))?;
    Some((seq.parse().ok()?, rank))
}

impl Spool {
    /// Opens (creating) the directory and takes over the files a previous run left.
    pub fn open(dir: &Path, max: u64) -> io::Result<Spool> {
        std::fs::create_dir_all(dir)?;
        let mut files = BTreeMap::new();
        let mut total = 0;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            if let Some((seq, rank)) = name.to_str().and_then(parse_name) {
                let bytes = entry.metadata()?.len();
                files.insert(seq, (rank, bytes));
                total += bytes;
            }
        }
        let next_seq = files.keys().next_back().map_or(0, |s| s + 1);
        Ok(Spool {
            dir: dir.to_path_buf(),
            max,
            file_cap: (max / 16).clamp(4096, 4 << 20),
            files,
            writers: Default::default(),
            checked_out: None,
            total,
            next_seq,
            corrupt: 0,
            written: 0,
        })
    }

    pub fn bytes(&self) -> u64 {
        self.total
    }

    /// Whether there is anything to deliver besides the file checked out.
    pub fn has_files(&self) -> bool {
        !self.files.is_empty()
    }

    fn path(&self, seq: u64, rank: usize) -> PathBuf {
        self.dir.join(file_name(seq, rank))
    }

    /// Deletes the oldest file of the lowest severity (at most `at_most`), counting what it held.
    fn shed_one(&mut self, at_most: usize, shed: &mut Shed) -> bool {
        let Some((&seq, &(rank, bytes))) =
            self.files.iter().filter(|(_, (r, _))| *r <= at_most).min_by_key(|(s, (r, _))| (*r, **s))
        else {
            return false;
        };
        if self.writers[rank].as_ref().is_some_and(|w| w.seq == seq) {
            self.writers[rank] = None;
        }
        let path = self.path(seq, rank);
        let (counted, _) = read_records(&path);
        for r in &counted {
            shed.record(r);
        }
        let _ = std::fs::remove_file(&path);
        self.files.remove(&seq);
        self.total = self.total.saturating_sub(bytes);
        true
    }

    /// Appends `r`, shedding the least severe files (or `r`) to stay within the bound.
    pub fn push(&mut self, r: &Record, shed: &mut Shed) -> io::Result<()> {
        let cost = r.cost();
        while self.total + cost > self.max {
            if !self.shed_one(rank(r.severity), shed) {
                shed.record(r);
                return Ok(());
            }
        }
        let k = rank(r.severity);
        if self.writers[k].as_ref().is_none_or(|w| w.bytes >= self.file_cap) {
            let seq = self.next_seq;
            self.next_seq += 1;
            let file = OpenOptions::new().create_new(true).append(true).open(self.path(seq, k))?;
            self.files.insert(seq, (k, 0));
            self.writers[k] = Some(Writer { seq, file, bytes: 0 });
        }
        let w = self.writers[k].as_mut().expect("opened above");
        let mut line = Vec::with_capacity(cost as usize);
        line.extend_from_slice(r.json.as_bytes());
        line.push(b'\n');
        w.file.write_all(&line)?;
        w.bytes += cost;
        self.total += cost;
        self.written += 1;
        if let Some(e) = self.files.get_mut(&w.seq) {
            e.1 += cost;
        }
        Ok(())
    }

    /// Appends `r` if it fits without shedding anything; whether it did.
    pub fn push_if_room(&mut self, r: &Record) -> io::Result<bool> {
        if self.total + r.cost() > self.max {
            return Ok(false);
        }
        self.push(r, &mut Shed::default())?;
        Ok(true)
    }

    /// Takes the oldest file out for delivery; [`Spool::delivered`] deletes it afterwards.
    pub fn check_out(&mut self) -> Option<(u64, Vec<Record>)> {
        let (&seq, &(rank, bytes)) = self.files.iter().next()?;
        if self.writers[rank].as_ref().is_some_and(|w| w.seq == seq) {
            self.writers[rank] = None;
        }
        self.files.remove(&seq);
        self.checked_out = Some((seq, rank, bytes));
        let (records, corrupt) = read_records(&self.path(seq, rank));
        self.corrupt += corrupt;
        Some((seq, records))
    }

    /// The checked-out file was delivered (or rejected): delete it.
    pub fn delivered(&mut self, seq: u64) {
        if let Some((s, rank, bytes)) = self.checked_out.take() {
            if s == seq {
                let _ = std::fs::remove_file(self.path(s, rank));
                self.total = self.total.saturating_sub(bytes);
            } else {
                self.checked_out = Some((s, rank, bytes));
            }
        }
    }
}

/// The records of a spool file and how many lines could not be read.
fn read_records(path: &Path) -> (Vec<Record>, u64) {
    let Ok(f) = File::open(path) else { return (Vec::new(), 0) };
    let mut out = Vec::new();
    let mut corrupt = 0;
    for line in BufReader::new(f).lines() {
        match line.ok().as_deref().and_then(Record::parse) {
            Some(r) => out.push(r),
            None => corrupt += 1,
        }
    }
    (out, corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn record(n: usize, severity: Severity) -> Record {
        let category = format!("Cat {}", n % 3);
        let json = serde_json::json!({
            "findingId": format!("id-{n}"),
            "severity": severity.as_str(),
            "category": category,
            "description": "x".repeat(100),
            "resource": {"name": "svc"},
        })
        .to_string();
        Record { id: format!("id-{n}"), severity, category, json }
    }

    fn severity_of(n: usize) -> Severity {
        match n % 100 {
            0 => Severity::Critical,
            1..=9 => Severity::High,
            10..=39 => Severity::Medium,
            _ => Severity::Low,
        }
    }

    #[test]
    fn storm_keeps_memory_bounded_and_sheds_least_severe_first() {
        let mut shelf = Shelf::new(10_000, 64 << 20);
        let mut shed = Shed::default();
        for n in 0..100_000 {
            shelf.push(record(n, severity_of(n)), &mut shed);
            assert!(shelf.len() <= 10_000);
        }
        assert_eq!(shelf.len(), 10_000);
        assert_eq!(shed.total, 90_000);
        let kept = shelf.drain();
        // Every CRITICAL and HIGH finding (10,000 of them) is kept; everything less severe was shed.
        assert!(kept.iter().all(|r| r.severity >= Severity::High));
        assert_eq!(kept.iter().filter(|r| r.severity == Severity::Critical).count(), 1000);
        // Oldest first.
        let ids: Vec<usize> = kept.iter().map(|r| r.id[3..].parse().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        let summary = shed.summary().expect("a summary");
        let v: Value = serde_json::from_str(&summary.json).unwrap();
        assert_eq!(v["category"], "Runwarden: Findings Shed");
        assert_eq!(v["sourceProperties"]["shedTotal"], 90_000);
        let per: u64 =
            v["sourceProperties"]["shed"].as_object().unwrap().values().map(|x| x.as_u64().unwrap()).sum();
        assert_eq!(per, 90_000);
        assert_eq!(v["severity"], "MEDIUM");
        assert_eq!(v["resource"]["name"], "svc");
        assert!(Record::parse(&summary.json).is_some());
        assert!(shed.summary().is_none());
    }

    #[test]
    fn shelf_bytes_bound_and_less_severe_newcomer_is_shed() {
        let mut shelf = Shelf::new(1000, 1000);
        let mut shed = Shed::default();
        for n in 0..50 {
            shelf.push(record(n, Severity::High), &mut shed);
            assert!(shelf.bytes() <= 1000);
        }
        let before = shelf.len();
        shelf.push(record(99, Severity::Low), &mut shed);
        assert_eq!(shelf.len(), before);
        assert!(shelf.drain().iter().all(|r| r.severity == Severity::High));
    }

    #[test]
    fn spool_round_trip_sheds_by_severity_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let max = 64 * 1024;
        let mut spool = Spool::open(dir.path(), max).unwrap();
        let mut shed = Shed::default();
        for n in 0..2000 {
            spool.push(&record(n, severity_of(n)), &mut shed).unwrap();
            assert!(spool.bytes() <= max);
        }
        assert!(shed.total > 0);
        let disk: u64 =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
        assert!(disk <= max, "{disk}");
        drop(spool);
        // A restart finds the files; they come out oldest first, and stay until delivered.
        let mut spool = Spool::open(dir.path(), max).unwrap();
        let mut seen = Vec::new();
        let mut crit = 0;
        while let Some((seq, records)) = spool.check_out() {
            crit += records.iter().filter(|r| r.severity == Severity::Critical).count();
            seen.push(seq);
            spool.delivered(seq);
        }
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(crit, 20, "every CRITICAL finding was kept");
        assert_eq!(spool.bytes(), 0);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_shed_summary_folds_into_the_next_and_push_if_room_never_sheds() {
        let mut shed = Shed::default();
        for n in 0..10 {
            shed.record(&record(n, Severity::Low));
        }
        let first = shed.summary().unwrap();
        let mut next = Shed::default();
        next.record(&first);
        next.record(&record(10, Severity::High));
        assert_eq!(next.total, 1, "the summary's findings were already counted when shed");
        let v: Value = serde_json::from_str(&next.summary().unwrap().json).unwrap();
        assert_eq!(v["sourceProperties"]["shedTotal"], 11, "nothing is lost from the record");
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 64 * 1024).unwrap();
        let mut n = 0;
        while spool.push_if_room(&record(n, Severity::Low)).unwrap() {
            n += 1;
        }
        assert!(!spool.push_if_room(&record(n, Severity::Critical)).unwrap());
        let mut kept = 0;
        while let Some((seq, records)) = spool.check_out() {
            kept += records.len();
            spool.delivered(seq);
        }
        assert_eq!(kept, n, "nothing was shed to make room");
    }

    #[test]
    fn torn_lines_are_skipped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(file_name(7, 2)),
            format!("{}\n{{\"findingId\": \"tor", record(1, Severity::High).json),
        )
        .unwrap();
        let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
        let (seq, records) = spool.check_out().unwrap();
        assert_eq!((seq, records.len(), spool.corrupt), (7, 1, 1));
        // A new file does not reuse a sequence number.
        spool.push(&record(2, Severity::Low), &mut Shed::default()).unwrap();
        assert!(dir.path().join(file_name(8, 0)).exists());
    }
}
