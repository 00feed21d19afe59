//! The stored schema: what a backend writes for snapshots, events, outbox entries and the rest,
//! as types of its own (`v1`), so the domain and the API can change without changing what is
//! on disk, and the stored format can change without changing them.
//!
//! # Versions
//!
//! **Every record carries its version, in its first byte.** A record is either
//!
//! * `0x01` followed by v1 JSON (what this release writes), or
//! * unmarked JSON — a first byte of `{` or `[` — written by the release before versioning.
//!   Its shape is exactly v1 (v1 *is* that release's shape, frozen), so it reads as v1
//!   unchanged and is never rewritten just to add the marker.
//!
//! Per record rather than one store-level marker: a store then holds old and new records side
//! by side, a later version is introduced by writing it (no stop-the-world migration), and a
//! reader meeting a version it does not know fails on that record with
//! [`StorageError::UnknownSchemaVersion`] instead of misreading it. Version bytes never collide
//! with JSON: a JSON text starts with `{`, `[`, `"`, a digit, `t`, `f`, `n`, `-` or white space
//! (0x09 at the lowest), and versions are 1..=8 ([`MAX_VERSION`]). The byte costs nothing on the write path (it is
//! pushed into the buffer the JSON is then written into).
//!
//! Keys are not versioned here: a backend's key layout is its own business (sled's is in its
//! `keys` module).
//!
//! # Adding v2
//!
//! Add `v2.rs` with the new types and their conversions, make the `encode_*` functions write
//! `2` + v2, and teach the `decode_*` functions to read both (`1 | legacy` through v1, `2`
//! through v2). [`history_json`] passes stored v1 JSON through because v1's event JSON is the
//! domain event's JSON (the `same_json_as_the_domain` tests check it); if the two ever differ,
//! it must decode and re-encode instead.

pub mod v1;

use crate::domain::inventory::{Reservation, StockLevel};
use crate::domain::{Event, Order};
use crate::{DeadLetter, EventsJson, IdempotencyRecord, OutboxEntry, Result, StorageError};
use serde::{Deserialize, Serialize};

/// The version this release writes.
pub const CURRENT: u8 = 1;

/// Version bytes are 1..=8: below every byte a JSON text can start with (including the white
/// space bytes 0x09, 0x0a, 0x0d and 0x20).
pub const MAX_VERSION: u8 = 8;

/// The version of a stored record and its JSON body.
pub fn split_version(bytes: &[u8]) -> Result<(u8, &[u8])> {
    match bytes.first() {
        Some(b'{') | Some(b'[') => Ok((1, bytes)),
        Some(&v) if (1..=MAX_VERSION).contains(&v) => Ok((v, &bytes[1..])),
        Some(&v) => Err(StorageError::UnknownSchemaVersion(v)),
        None => Err(StorageError::Codec("empty record".into())),
    }
}

/// `CURRENT` followed by `value`'s JSON.
fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    out.push(CURRENT);
    serde_json::to_writer(&mut out, value)?;
    Ok(out)
}

/// The v1 JSON body of a record (unmarked or marked 1).
fn v1_body(bytes: &[u8]) -> Result<&[u8]> {
    match split_version(bytes)? {
        (1, body) => Ok(body),
        (v, _) => Err(StorageError::UnknownSchemaVersion(v)),
    }
}

fn decode_v1<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T> {
    Ok(serde_json::from_slice(v1_body(bytes)?)?)
}

fn invalid(e: v1::Invalid) -> StorageError {
    StorageError::Codec(e.0)
}

pub fn encode_order(order: &Order) -> Result<Vec<u8>> {
    encode(&v1::Order::from(order))
}

pub fn decode_order(bytes: &[u8]) -> Result<Order> {
    decode_v1::<v1::Order<'static>>(bytes)?
        .try_into()
        .map_err(invalid)
}

/// The version of a stored snapshot, without building the order (readers that check an
/// index entry or an outbox entry against its snapshot need only that).
pub fn decode_order_version(bytes: &[u8]) -> Result<u32> {
    #[derive(Deserialize)]
    struct Version {
        version: u32,
    }
    Ok(decode_v1::<Version>(bytes)?.version)
}

/// One transition's events, stored as one record.
pub fn encode_events(events: &[Event]) -> Result<Vec<u8>> {
    encode(&v1::events(events))
}

pub fn decode_events(bytes: &[u8]) -> Result<Vec<Event>> {
    v1::events_back(decode_v1::<Vec<v1::Event<'static>>>(bytes)?).map_err(invalid)
}

/// One transition's events as JSON in the domain event's shape, for responses that pass the
/// history through without decoding it.
pub fn history_json(bytes: &[u8]) -> Result<EventsJson> {
    // v1's JSON is the domain's (see the module doc): pass it through, undecoded.
    Ok(EventsJson::new(v1_body(bytes)?.to_vec()))
}

/// One transition's events from their v1 JSON as an export carries it (the bytes
/// [`history_json`] handed out), stored as they are, marked v1.
pub fn events_record(json: &EventsJson) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.as_bytes().len() + 1);
    out.push(1);
    out.extend_from_slice(json.as_bytes());
    out
}

pub fn encode_outbox(entry: &OutboxEntry) -> Result<Vec<u8>> {
    encode(&v1::OutboxEntry::from(entry))
}

pub fn decode_outbox(bytes: &[u8]) -> Result<OutboxEntry> {
    Ok(decode_v1::<v1::OutboxEntry<'static>>(bytes)?.into())
}

pub fn encode_idempotency(rec: &IdempotencyRecord) -> Result<Vec<u8>> {
    encode(&v1::IdempotencyRecord::from(rec))
}

pub fn decode_idempotency(bytes: &[u8]) -> Result<IdempotencyRecord> {
    Ok(decode_v1::<v1::IdempotencyRecord<'static>>(bytes)?.into())
}

pub fn encode_dead_letter(letter: &DeadLetter, entry: &OutboxEntry) -> Result<Vec<u8>> {
    encode(&v1::DeadLetter::new(letter, entry))
}

/// The dead letter with its outbox entry in `entry`.
pub fn decode_dead_letter(bytes: &[u8]) -> Result<DeadLetter> {
    Ok(decode_v1::<v1::DeadLetter<'static>>(bytes)?.into())
}

pub fn encode_stock_level(level: &StockLevel) -> Result<Vec<u8>> {
    encode(&v1::StockLevel::from(level))
}

pub fn decode_stock_level(bytes: &[u8]) -> Result<StockLevel> {
    Ok(decode_v1::<v1::StockLevel>(bytes)?.into())
}

pub fn encode_reservation(r: &Reservation) -> Result<Vec<u8>> {
    encode(&v1::Reservation::from(r))
}

pub fn decode_reservation(bytes: &[u8]) -> Result<Reservation> {
    Ok(decode_v1::<v1::Reservation<'static>>(bytes)?.into())
}

/// Any other record a backend keeps in the v1 family (sled's inventory journal): `CURRENT` +
/// JSON of a type built from v1 types.
pub fn encode_record<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    encode(value)
}

pub fn decode_record<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T> {
    decode_v1(bytes)
}

#[cfg(test)]
mod tests;
