//! An order's history as the engine hands it out: the domain's events, in their canonical JSON
//! form (the serde form of [`domain::Event`](crate::domain::Event)), one value per event.
//!
//! Why JSON and not decoded events: reads and most command answers only pass the history on to
//! a client. Storage keeps events in a stored schema whose v1 JSON is exactly the domain
//! event's JSON (`orderly_storage::schema` checks it), so it can hand the stored values over
//! without decoding them ([`OrderReads::history_json`](orderly_storage::OrderReads::history_json));
//! decoding every event of every read and answer and encoding it again cost about a sixth of a
//! transition's CPU. Whoever needs typed events calls [`History::events`]; a timeline calls
//! [`History::milestones`], which decodes only the few fields it shows.

use super::EngineError;
use crate::domain::{CarrierEventKind, Change, Event};
use chrono::{DateTime, Utc};
use orderly_storage::EventsJson;
use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};

/// An order's events, oldest first.
#[derive(Debug, Clone)]
pub struct History(Repr);

#[derive(Debug, Clone)]
enum Repr {
    /// Events just decided (a placement's answer).
    Events(Vec<Event>),
    /// Each transition's events as storage returned them, undecoded.
    Json(Vec<EventsJson>),
}

/// One entry of a history reduced to what a timeline shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Milestone {
    pub at: DateTime<Utc>,
    /// The change's name ([`Change::name`]): `placed`, `confirmed`, `carrier_scanned`, …
    pub change: String,
    /// For `carrier_scanned`: what the carrier reported.
    pub scan: Option<CarrierEventKind>,
    /// For `carrier_scanned`: where.
    pub location: Option<String>,
}

/// The fields of an event's JSON a milestone needs; the rest (the placed order's addresses and
/// contact details among them) is skipped while decoding.
#[derive(Deserialize)]
struct MilestoneJson {
    at: DateTime<Utc>,
    #[serde(rename = "type")]
    change: String,
    #[serde(default)]
    kind: Option<CarrierEventKind>,
    #[serde(default)]
    location: Option<String>,
}

impl History {
    pub(crate) fn from_json(transitions: Vec<EventsJson>) -> Self {
        History(Repr::Json(transitions))
    }

    /// The events, decoded.
    pub fn events(&self) -> Result<Vec<Event>, EngineError> {
        match &self.0 {
            Repr::Events(e) => Ok(e.clone()),
            Repr::Json(j) => Ok(j
                .iter()
                .map(|t| t.decode::<Event>())
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .flatten()
                .collect()),
        }
    }

    /// The events reduced to when, what, and for carrier scans their kind and location.
    pub fn milestones(&self) -> Result<Vec<Milestone>, EngineError> {
        match &self.0 {
            Repr::Events(e) => Ok(e
                .iter()
                .map(|e| {
                    let (scan, location) = match &e.change {
                        Change::CarrierScanned { kind, location, .. }
                        | Change::ReturnScanned { kind, location, .. } => {
                            (Some(*kind), location.clone())
                        }
                        _ => (None, None),
                    };
                    Milestone {
                        at: e.at,
                        change: e.change.name().to_string(),
                        scan,
                        location,
                    }
                })
                .collect()),
            Repr::Json(j) => {
                let mut out = Vec::new();
                for t in j {
                    out.extend(t.decode::<MilestoneJson>()?.into_iter().map(|m| {
                        let carrier_scan =
                            m.change == "carrier_scanned" || m.change == "return_scanned";
                        Milestone {
                            at: m.at,
                            scan: m.kind.filter(|_| carrier_scan),
                            location: m.location.filter(|_| carrier_scan),
                            change: m.change,
                        }
                    }));
                }
                Ok(out)
            }
        }
    }
}

impl From<Vec<Event>> for History {
    fn from(events: Vec<Event>) -> Self {
        History(Repr::Events(events))
    }
}

/// The events as a JSON array, each in the domain event's serde form (stored JSON is split
/// into its events and copied, not decoded).
impl Serialize for History {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Repr::Events(e) => e.serialize(s),
            Repr::Json(j) => {
                let mut seq = s.serialize_seq(None)?;
                for t in j {
                    for e in t.raw_events().map_err(serde::ser::Error::custom)? {
                        seq.serialize_element(e)?;
                    }
                }
                seq.end()
            }
        }
    }
}

#[cfg(test)]
mod tests;
