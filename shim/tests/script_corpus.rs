//! The malicious script model (`detect::score`) against the labelled corpus of `integration/corpus/`:
//! precision and recall on the tuning set and on the held-out set (files whose name ends in 7, 8 or 9
//! before the extension, see `integration/corpus/SPLIT.md`), printed for CI logs, with floors on the
//! held-out figures. `CORPUS_TUNING_ONLY=1` scores the tuning set alone (what weight tuning may look at).
//! Run with `cargo test -p runwarden --test script_corpus -- --nocapture` to see the table.

use std::path::{Path, PathBuf};

use runwarden::enrich::score::{score, Language};

/// Floors on the held-out set: the achieved figures minus a margin (see integration/corpus/README.md).
const HELD_OUT_MIN_RECALL: f64 = 0.85;
const HELD_OUT_MIN_PRECISION: f64 = 0.9;
/// The tuning set was tuned on; it must stay (near) perfect.
const TUNING_MIN_RECALL: f64 = 0.95;
const TUNING_MIN_PRECISION: f64 = 0.95;

struct Sample {
    path: PathBuf,
    language: Language,
    malicious: bool,
    held_out: bool,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../integration/corpus")
}

/// Held out: the last character of the file stem is 7, 8 or 9.
fn held_out(path: &Path) -> bool {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    matches!(stem.chars().last(), Some('7' | '8' | '9'))
}

fn load() -> Vec<Sample> {
    let mut out = Vec::new();
    for (lang_dir, language, ext) in [("shell", Language::Shell, "sh"), ("python", Language::Python, "py")] {
        for (label, malicious) in [("malicious", true), ("benign", false)] {
            let dir = corpus_dir().join(lang_dir).join(label);
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == ext))
                .collect();
            files.sort();
            assert!(!files.is_empty(), "no samples in {}", dir.display());
            out.extend(files.into_iter().map(|path| Sample {
                held_out: held_out(&path),
                path,
                language,
                malicious,
            }));
        }
    }
    out
}

#[derive(Default, Debug, Clone, Copy)]
struct Counts {
    tp: u32,
    fp: u32,
    tn: u32,
    fn_: u32,
}

impl Counts {
    fn precision(&self) -> f64 {
        let d = self.tp + self.fp;
        if d == 0 {
            1.0
        } else {
            f64::from(self.tp) / f64::from(d)
        }
    }
    fn recall(&self) -> f64 {
        let d = self.tp + self.fn_;
        if d == 0 {
            1.0
        } else {
            f64::from(self.tp) / f64::from(d)
        }
    }
}

#[test]
fn corpus_precision_and_recall() {
    let tuning_only = std::env::var_os("CORPUS_TUNING_ONLY").is_some();
    let samples = load();
    // [set][language]: set 0 = tuning, 1 = held-out; language 0 = shell, 1 = python.
    let mut counts = [[Counts::default(); 2]; 2];
    let mut errors = Vec::new();
    for s in &samples {
        if tuning_only && s.held_out {
            continue;
        }
        let code = std::fs::read_to_string(&s.path).unwrap();
        let v = score(s.language, &code);
        let c = &mut counts[usize::from(s.held_out)][usize::from(s.language == Language::Python)];
        match (s.malicious, v.malicious) {
            (true, true) => c.tp += 1,
            (false, true) => c.fp += 1,
            (false, false) => c.tn += 1,
            (true, false) => c.fn_ += 1,
        }
        let name = s.path.strip_prefix(corpus_dir()).unwrap_or(&s.path).display().to_string();
        if s.malicious != v.malicious {
            let kind = if s.malicious { "MISSED" } else { "FALSE POSITIVE" };
            let set = if s.held_out { "held-out" } else { "tuning" };
            errors.push(format!("{kind} ({set}) {name}: score {:.2} {:?}", v.score, v.reasons));
        }
        if std::env::var_os("CORPUS_VERBOSE").is_some() {
            println!("{:5.2} {:5} {name} {:?}", v.score, v.malicious, v.reasons);
        }
    }
    let total = |set: usize| {
        let [a, b] = counts[set];
        Counts { tp: a.tp + b.tp, fp: a.fp + b.fp, tn: a.tn + b.tn, fn_: a.fn_ + b.fn_ }
    };
    println!("set       lang    files  TP  FP  TN  FN  precision  recall");
    for (set, set_name) in [(0, "tuning"), (1, "held-out")] {
        if tuning_only && set == 1 {
            continue;
        }
        for (c, lang) in [(counts[set][0], "shell"), (counts[set][1], "python"), (total(set), "all")] {
            println!(
                "{set_name:9} {lang:7} {:5} {:3} {:3} {:3} {:3}  {:9.3}  {:6.3}",
                c.tp + c.fp + c.tn + c.fn_,
                c.tp,
                c.fp,
                c.tn,
                c.fn_,
                c.precision(),
                c.recall()
            );
        }
    }
    for e in &errors {
        println!("{e}");
    }
    let t = total(0);
    assert!(t.recall() >= TUNING_MIN_RECALL, "tuning recall {:.3}: {errors:#?}", t.recall());
    assert!(t.precision() >= TUNING_MIN_PRECISION, "tuning precision {:.3}: {errors:#?}", t.precision());
    if !tuning_only {
        let h = total(1);
        assert!(h.recall() >= HELD_OUT_MIN_RECALL, "held-out recall {:.3}: {errors:#?}", h.recall());
        assert!(
            h.precision() >= HELD_OUT_MIN_PRECISION,
            "held-out precision {:.3}: {errors:#?}",
            h.precision()
        );
    }
}

#[test]
fn corpus_is_defanged() {
    // Malicious samples may only name documentation addresses and reserved domains (and private or
    // loopback ones): nothing in the corpus points at a real server.
    let ip = regex::Regex::new(r"\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}\b").unwrap();
    let host = regex::Regex::new(r"(?:https?|ftp|stratum\+\w+)://([^/\s:'\x22)]+)").unwrap();
    for s in load().iter().filter(|s| s.malicious) {
        let code = std::fs::read_to_string(&s.path).unwrap();
        for m in ip.find_iter(&code) {
            let a = m.as_str();
            let reversed: String = a.chars().rev().collect(); // `rev | sh` samples
            let ok = ["203.0.113.", "198.51.100.", "192.0.2.", "127.", "10.", "169.254.", "0.0.0.0"]
                .iter()
                .any(|p| a.starts_with(p) || reversed.starts_with(p));
            assert!(ok, "{}: {a} is not a documentation address", s.path.display());
        }
        for m in host.captures_iter(&code) {
            let h = &m[1];
            let ok = h.ends_with("example.com")
                || h.ends_with(".invalid")
                || h == "localhost"
                || h == "metadata.google.internal"
                || ip.is_match(h)
                || h.contains('$');
            assert!(ok, "{}: {h} is not a reserved domain", s.path.display());
        }
    }
}
