//! The bench's results: one [`Report`] printed as a plain table and, on request, written as
//! JSON with the same numbers.

use super::client::Endpoint;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub mem_total_kib: Option<u64>,
    pub cpu_model: Option<String>,
    pub kernel: Option<String>,
}

impl Machine {
    pub fn detect() -> Machine {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_total_kib = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok());
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_string());
        Machine {
            nproc: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            mem_total_kib,
            cpu_model,
            kernel,
        }
    }

    pub fn describe(&self) -> String {
        let mem = self
            .mem_total_kib
            .map(|k| format!("{:.1} GiB RAM", k as f64 / (1024.0 * 1024.0)))
            .unwrap_or_else(|| "RAM unknown".into());
        let mut s = format!("{} cores (nproc), {mem}", self.nproc);
        if let Some(m) = &self.cpu_model {
            let _ = write!(s, ", {m}");
        }
        if let Some(k) = &self.kernel {
            let _ = write!(s, ", Linux {k}");
        }
        s
    }
}

/// A named number: `key` for JSON, `label` and `unit` for the table.
#[derive(Debug, Clone)]
pub struct Figure {
    pub key: String,
    pub label: String,
    pub value: f64,
    pub unit: &'static str,
}

#[derive(Debug, Clone)]
pub struct Ratio {
    pub key: String,
    pub label: String,
    pub value: Option<f64>,
    /// E.g. `>= 0.5` or `<= 1.5`.
    pub target: &'static str,
}

/// The target of a ratio reported for information only.
pub const NO_TARGET: &str = "none";

impl Ratio {
    pub fn met(&self) -> Option<bool> {
        let v = self.value?;
        let (op, t) = self.target.split_once(' ')?;
        let t: f64 = t.parse().ok()?;
        Some(if op == ">=" { v >= t } else { v <= t })
    }
}

#[derive(Default)]
pub struct Report {
    pub title: String,
    pub machine: Option<Machine>,
    /// Header lines: `name: value`.
    pub header: Vec<(String, String)>,
    pub params: BTreeMap<String, Value>,
    pub endpoints: Vec<Endpoint>,
    pub totals: Vec<Figure>,
    pub baseline: Vec<Figure>,
    pub ratios: Vec<Ratio>,
    pub server: Vec<Figure>,
    pub notes: Vec<String>,
}

fn fmt_ms(micros: u64) -> String {
    let ms = micros as f64 / 1000.0;
    if ms < 10.0 {
        format!("{ms:.2}")
    } else if ms < 1000.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

fn fmt_value(v: f64) -> String {
    if (v.fract() == 0.0 && v.abs() < 1e15) || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn errors_text(e: &Endpoint) -> String {
    if e.errors.is_empty() {
        return "0".into();
    }
    e.errors
        .iter()
        .map(|(k, n)| format!("{n}× {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn figures_section(out: &mut String, title: &str, figures: &[Figure]) {
    if figures.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{title}");
    let w = figures
        .iter()
        .map(|f| f.label.chars().count())
        .max()
        .unwrap_or(0);
    for f in figures {
        let _ = writeln!(
            out,
            "  {:<w$}  {:>12} {}",
            f.label,
            fmt_value(f.value),
            f.unit
        );
    }
}

impl Report {
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.title);
        let _ = writeln!(out, "{}", "=".repeat(self.title.chars().count()));
        let w = self.header.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in &self.header {
            let _ = writeln!(out, "{:<w$}  {v}", format!("{k}:"), w = w + 1);
        }

        let _ = writeln!(out, "\nlatency of successful requests (ms)");
        let name_w = self
            .endpoints
            .iter()
            .map(|e| e.name.chars().count())
            .max()
            .unwrap_or(8)
            .max(8);
        let _ = writeln!(
            out,
            "  {:<name_w$}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}  errors",
            "endpoint", "ok", "mean", "p50", "p99", "p99.9", "max"
        );
        let _ = writeln!(out, "  {}", "-".repeat(name_w + 2 + 6 * 10 + 6));
        for e in &self.endpoints {
            let h = &e.hist;
            let cols = if h.is_empty() {
                [
                    "-".to_string(),
                    "-".to_string(),
                    "-".to_string(),
                    "-".to_string(),
                    "-".to_string(),
                ]
            } else {
                [
                    fmt_ms(h.mean().round() as u64),
                    fmt_ms(h.value_at_quantile(0.50)),
                    fmt_ms(h.value_at_quantile(0.99)),
                    fmt_ms(h.value_at_quantile(0.999)),
                    fmt_ms(h.max()),
                ]
            };
            let _ = writeln!(
                out,
                "  {:<name_w$}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}  {}",
                e.name,
                h.len(),
                cols[0],
                cols[1],
                cols[2],
                cols[3],
                cols[4],
                errors_text(e)
            );
        }
        let samples: Vec<_> = self
            .endpoints
            .iter()
            .flat_map(|e| e.samples.iter().map(move |s| (e.name.as_str(), s)))
            .collect();
        if !samples.is_empty() {
            let _ = writeln!(out, "\nerror samples");
            for (name, s) in samples {
                let _ = writeln!(out, "  {name}: {}", s.replace('\n', " "));
            }
        }

        figures_section(&mut out, "totals", &self.totals);
        figures_section(&mut out, "baseline", &self.baseline);
        if !self.ratios.is_empty() {
            let _ = writeln!(out, "\nratios");
            let w = self
                .ratios
                .iter()
                .map(|r| r.label.chars().count())
                .max()
                .unwrap_or(0);
            for r in &self.ratios {
                let v = r
                    .value
                    .map(|v| format!("{v:.2}"))
                    .unwrap_or_else(|| "n/a".into());
                let verdict = match (r.met(), r.value) {
                    (Some(true), _) => "met",
                    (Some(false), _) => "MISSED",
                    // A figure reported without a target.
                    (None, Some(_)) if r.target == NO_TARGET => "",
                    (None, _) => "not measured",
                };
                let _ = writeln!(
                    out,
                    "  {:<w$}  {:>8}   target {:<7}  {verdict}",
                    r.label, v, r.target
                );
            }
        }
        figures_section(
            &mut out,
            "server (deltas over the measured phase)",
            &self.server,
        );
        if !self.notes.is_empty() {
            let _ = writeln!(out, "\nnotes");
            for n in &self.notes {
                let _ = writeln!(out, "  - {n}");
            }
        }
        out
    }

    pub fn json(&self) -> Value {
        let figures = |fs: &[Figure]| -> Value {
            let mut m = Map::new();
            for f in fs {
                m.insert(f.key.clone(), json!(f.value));
            }
            Value::Object(m)
        };
        let endpoints: Vec<Value> = self
            .endpoints
            .iter()
            .map(|e| {
                let h = &e.hist;
                let q = |q: f64| if h.is_empty() { Value::Null } else { json!(h.value_at_quantile(q) as f64 / 1000.0) };
                json!({
                    "endpoint": e.name,
                    "ok": h.len(),
                    "mean_ms": if h.is_empty() { Value::Null } else { json!(h.mean() / 1000.0) },
                    "p50_ms": q(0.50),
                    "p90_ms": q(0.90),
                    "p99_ms": q(0.99),
                    "p999_ms": q(0.999),
                    "max_ms": if h.is_empty() { Value::Null } else { json!(h.max() as f64 / 1000.0) },
                    "errors": e.errors,
                    "error_samples": e.samples,
                })
            })
            .collect();
        let ratios: Vec<Value> = self
            .ratios
            .iter()
            .map(|r| json!({"name": r.key, "value": r.value, "target": r.target, "met": r.met()}))
            .collect();
        let header: Map<String, Value> = self
            .header
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        json!({
            "title": self.title,
            "machine": self.machine,
            "header": header,
            "params": self.params,
            "endpoints": endpoints,
            "totals": figures(&self.totals),
            "baseline": figures(&self.baseline),
            "ratios": ratios,
            "server": figures(&self.server),
            "notes": self.notes,
        })
    }
}
