//! The crash checker: what the service acknowledged must still be there later.
//!
//! An [`AckLog`] records, per order, the highest version (and its status) that any 2xx answer
//! showed. After a crash and restart, [`Checker::verify`] reads those orders back over HTTP and
//! [`check_order`] compares: the version and status must be at least what was acknowledged
//! (an acknowledged change was lost or moved backwards otherwise), the history numbered 1..n
//! (no step recorded twice or skipped), and each one-time step at most once. The result is
//! data, a [`CheckReport`] with counts and the list of violations.

use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Duration;

/// Steps an order takes at most once in its life; the shipment steps (packed, booked,
/// shipped, delivered) at most once per shipment (events name theirs in `shipment`).
pub const ONE_TIME_STEPS: [&str; 11] = [
    "placed",
    "stock_reserved",
    "allocated",
    "backordered",
    "stock_unavailable",
    "confirmed",
    "packed",
    "shipment_booked",
    "shipped",
    "delivered",
    "cancelled",
];

/// Lifecycle order of the statuses (cancelled is terminal from anywhere).
pub fn status_rank(status: &str) -> u8 {
    match status {
        "placed" => 0,
        "confirmed" => 1,
        "packed" => 2,
        "shipped" => 3,
        "delivered" => 4,
        "returned" => 5,
        "cancelled" => 6,
        _ => 0,
    }
}

/// The highest acknowledged version of an order and its status at that version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acked {
    pub version: u64,
    pub status: String,
}

/// What clients were told: per order, the highest acknowledged version and its status.
#[derive(Debug, Default, Clone)]
pub struct AckLog {
    orders: HashMap<String, Acked>,
    transitions: u64,
    /// Orders acknowledged since the last [`AckLog::take_touched`].
    touched: HashSet<String>,
}

impl AckLog {
    pub fn new() -> AckLog {
        AckLog::default()
    }

    /// Records a 2xx answer's order (its `id`, `version` and `status`). False, and nothing
    /// recorded, if the body lacks one of them.
    pub fn record(&mut self, order: &Value) -> bool {
        match (
            order["id"].as_str(),
            order["version"].as_u64(),
            order["status"].as_str(),
        ) {
            (Some(id), Some(version), Some(status)) => {
                self.record_version(id, version, status);
                true
            }
            _ => false,
        }
    }

    /// Records that the service acknowledged `id` at `version` with `status`.
    pub fn record_version(&mut self, id: &str, version: u64, status: &str) {
        self.transitions += 1;
        self.touched.insert(id.to_string());
        let e = self.orders.entry(id.to_string()).or_insert(Acked {
            version: 0,
            status: String::new(),
        });
        if version >= e.version {
            *e = Acked {
                version,
                status: status.to_string(),
            };
        }
    }

    /// Orders acknowledged at least once.
    pub fn orders(&self) -> usize {
        self.orders.len()
    }

    /// Acknowledgements recorded (2xx answers that changed an order).
    pub fn transitions(&self) -> u64 {
        self.transitions
    }

    pub fn get(&self, id: &str) -> Option<&Acked> {
        self.orders.get(id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &String> {
        self.orders.keys()
    }

    /// Every acknowledged order.
    pub fn all(&self) -> Vec<(String, Acked)> {
        self.orders
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The orders acknowledged since the last call, with what was acknowledged.
    pub fn take_touched(&mut self) -> Vec<(String, Acked)> {
        std::mem::take(&mut self.touched)
            .into_iter()
            .filter_map(|id| self.orders.get(&id).map(|a| (id, a.clone())))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViolationKind {
    /// The order is not there (or could not be read) any more.
    Missing,
    /// Its version or status is behind what a 2xx said.
    MovedBackwards,
    /// The history's sequence numbers are not 1..n.
    HistoryNotContiguous,
    /// A one-time step is in the history more than once.
    RepeatedStep(String),
}

/// One broken promise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub order_id: String,
    pub kind: ViolationKind,
    pub detail: String,
}

impl Violation {
    /// An acknowledged change is gone: the order is missing or moved backwards.
    pub fn is_loss(&self) -> bool {
        matches!(
            self.kind,
            ViolationKind::Missing | ViolationKind::MovedBackwards
        )
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.order_id, self.detail)
    }
}

/// The outcome of checking acknowledged orders.
#[derive(Debug, Default, Clone)]
pub struct CheckReport {
    /// Orders checked.
    pub checked: u64,
    pub violations: Vec<Violation>,
}

impl CheckReport {
    /// Acknowledged changes lost or moved backwards.
    pub fn lost(&self) -> usize {
        self.violations.iter().filter(|v| v.is_loss()).count()
    }

    /// Histories with a gap or a repeated step (one count per finding).
    pub fn repeats(&self) -> usize {
        self.violations.len() - self.lost()
    }

    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    pub fn merge(&mut self, other: CheckReport) {
        self.checked += other.checked;
        self.violations.extend(other.violations);
    }
}

/// The history checks alone: sequence numbers 1..n and each one-time step at most once.
pub fn check_history(id: &str, order: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    let history = order["history"].as_array();
    let seqs: Vec<u64> = history
        .map(|h| h.iter().filter_map(|e| e["seq"].as_u64()).collect())
        .unwrap_or_default();
    let len = history.map_or(0, Vec::len);
    if seqs.len() != len || seqs != (1..=seqs.len() as u64).collect::<Vec<_>>() {
        out.push(Violation {
            order_id: id.to_string(),
            kind: ViolationKind::HistoryNotContiguous,
            detail: format!("history seq numbers are not 1..n: {seqs:?}"),
        });
    }
    let kinds: Vec<(&str, Option<u64>)> = history
        .map(|h| {
            h.iter()
                .filter_map(|e| Some((e["type"].as_str()?, e["shipment"].as_u64())))
                .collect()
        })
        .unwrap_or_default();
    let mut shipments: Vec<Option<u64>> = kinds.iter().map(|(_, s)| *s).collect();
    shipments.sort_unstable();
    shipments.dedup();
    for (once, shipment) in ONE_TIME_STEPS
        .iter()
        .flat_map(|o| shipments.iter().map(move |s| (*o, *s)))
    {
        let n = kinds.iter().filter(|k| **k == (once, shipment)).count();
        if n > 1 {
            out.push(Violation {
                order_id: id.to_string(),
                kind: ViolationKind::RepeatedStep(once.to_string()),
                detail: format!("{once} recorded {n} times: {kinds:?}"),
            });
        }
    }
    out
}

/// Checks one order as the service answers it now (`found`: the order JSON of a 200) against
/// what was acknowledged.
pub fn check_order(id: &str, acked: &Acked, found: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    let v = found["version"].as_u64().unwrap_or(0);
    let s = found["status"].as_str().unwrap_or("");
    if v < acked.version || (status_rank(s) < status_rank(&acked.status) && s != "cancelled") {
        out.push(Violation {
            order_id: id.to_string(),
            kind: ViolationKind::MovedBackwards,
            detail: format!(
                "acknowledged v{} {}, found v{v} {s}",
                acked.version, acked.status
            ),
        });
    }
    out.extend(check_history(id, found));
    out
}

/// Reads acknowledged orders back over HTTP (`GET /v1/orders/{id}` with a storefront key) and
/// checks each.
pub struct Checker {
    http: awc::Client,
    base: String,
    storefront_key: String,
}

impl Checker {
    /// `base`: the service's URL; `storefront_key`: a storefront bearer key (without `Bearer`).
    pub fn new(base: &str, storefront_key: &str) -> Checker {
        Checker {
            http: awc::Client::builder()
                .timeout(Duration::from_secs(10))
                .finish(),
            base: base.trim_end_matches('/').to_string(),
            storefront_key: storefront_key.to_string(),
        }
    }

    /// The order as the service answers it: status and JSON body; None on a transport failure.
    pub async fn read(&self, id: &str) -> Option<(u16, Value)> {
        let mut resp = self
            .http
            .get(format!("{}/v1/orders/{id}", self.base))
            .bearer_auth(&self.storefront_key)
            .send()
            .await
            .ok()?;
        let body = resp.body().limit(16 << 20).await.ok()?;
        Some((
            resp.status().as_u16(),
            serde_json::from_slice(&body).unwrap_or(Value::Null),
        ))
    }

    /// Checks acknowledged orders, 64 at a time. A read that fails in transport is retried
    /// (three tries): only an answer counts as evidence.
    pub async fn verify(&self, acked: &[(String, Acked)]) -> CheckReport {
        let mut report = CheckReport::default();
        for chunk in acked.chunks(64) {
            let reads = chunk.iter().map(|(id, _)| async move {
                for _ in 0..3 {
                    if let Some(r) = self.read(id).await {
                        return Some(r);
                    }
                }
                None
            });
            let results = futures::future::join_all(reads).await;
            for ((id, a), result) in chunk.iter().zip(results) {
                report.checked += 1;
                match result {
                    Some((200, o)) => report.violations.extend(check_order(id, a, &o)),
                    other => report.violations.push(Violation {
                        order_id: id.clone(),
                        kind: ViolationKind::Missing,
                        detail: format!("acknowledged v{} {}, now {other:?}", a.version, a.status),
                    }),
                }
            }
        }
        report
    }
}

#[cfg(test)]
mod tests;
