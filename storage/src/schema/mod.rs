//! The stored schema: what a backend writes for snapshots, events, outbox entries and the rest,
//! as types of its own (`v1`), so the domain and the API can change without changing what is
//! on disk, and the stored format can change without changing them.
//!
//! # Versions
//!
//! **Every record carries its version, in its first byte.** A record is either
//!
//! * `0x05` followed by v5 JSON (what this release writes for snapshots, events, outbox entries
//!   and dead letters: v2 with optional additions, see below),
//! * `0x04` followed by v4 JSON (what the release before wrote for those),
//! * `0x03` followed by v3 JSON (what the release before wrote for those: v2 with the
//!   promise's optional additions),
//! * `0x02` followed by v2 JSON (what the release before wrote, and this one still writes for
//!   the records v3 did not change),
//! * `0x01` followed by v1 JSON (what the release before shipments wrote; this release still
//!   writes a reservation that fits v1 that way, see [`encode_reservation`]), or
//! * unmarked JSON — a first byte of `{` or `[` — written by the release before versioning.
//!   Its shape is exactly v1 (v1 *is* that release's shape, frozen), so it reads as v1
//!   unchanged and is never rewritten just to add the marker.
//!
//! Per record rather than one store-level marker: a store then holds old and new records side
//! by side, a later version is introduced by writing it (no stop-the-world migration), and a
//! reader meeting a version it does not know fails on that record with
//! [`StorageError::UnknownSchemaVersion`] instead of misreading it. Version bytes never collide
//! with JSON: a JSON text starts with `{`, `[`, `"`, a digit, `t`, `f`, `n`, `-` or white space
//! (0x09 at the lowest), and versions are 1..=8 ([`MAX_VERSION`]). The byte costs nothing on
//! the write path (it is pushed into the buffer the JSON is then written into).
//!
//! Keys are not versioned here: a backend's key layout is its own business (sled's is in its
//! `keys` module).
//!
//! # What v2 changed
//!
//! Orders got shipments of their own (see [`v2`]'s doc for the field-level list): the snapshot
//! lost its order-level `warehouse` and its lines' `picked` and keeps one entry per shipment
//! with its own lines, picks, status, booking and scans; events and outbox actions gained new
//! kinds and optional `shipment` fields; a reservation holds one part per shipment. Backorders
//! came with it (v2 was extended before its release): the snapshot's and the reservation's
//! `backordered` lines, the `backordered` stock state, event and notification kinds, and a
//! record per sku ([`encode_backorders`]). So did stock alerts: an outbox entry holds either an
//! order's `effect` (as before) or a stock `notice`; a dead letter's `order_id` is left out for
//! a notice; a cell's alert record ([`encode_cell_alert`]) and a back-in-stock subscription
//! ([`encode_subscription`]) are records of their own. Types that did not change (customer, address, money,
//! booking, parcel, idempotency records, stock levels, …) are v1's, reused.
//!
//! * **Writing**: every `encode_*` writes `2` + v2, except [`encode_reservation`], which writes
//!   `1` + v1 — exactly the bytes the release before wrote — whenever the reservation fits v1
//!   (one part, shipment 1, in the record's state, nothing backordered; or a tombstone). The
//!   PostgreSQL stock function compares stored reservation *bytes* with the expected record's
//!   encoding, so a reservation written before the upgrade still compares equal after it.
//! * **Reading**: `1` (and unmarked) through v1, converted into today's domain as folding the
//!   order's v1 history with today's `evolve` would (an order at a warehouse becomes one
//!   shipment, id 1; events and actions without a shipment keep the meaning `None` has);
//!   `2` through v2.
//! * **Events pass through.** v2's event JSON is the domain event's JSON, and v1's is the same
//!   JSON for the kinds and fields it has (the `same_json_as_the_domain` tests hold all three
//!   together), so [`history_json`] hands out stored events of either version undecoded. If a
//!   later version's event JSON ever differs from the domain's, it must decode and re-encode.
//!
//! # What v3 changed
//!
//! Delivery promises (issue 14), all **optional additions** to v2's shapes, so v3 is read by
//! v2's types extended ([`v2`] holds both; a field or kind marked "v3" there is absent from
//! every v2 record, and its absence means what it meant in v2): a shipment's and an
//! allocation's `plan` (carrier, service, price, rule and promised window), a shipment's
//! `delayed`; a booking's `price`, `rule` and `promise`; the order's `shipping.weight_grams`;
//! `carrier_scanned`'s `estimated_delivery`; the event kind `delayed`, the notification kind
//! `delayed`, the cause `promise_timer`; `book_shipment`'s `terms` (postal code, value, cash on
//! delivery); the action `cancel_bookings`; the tracking vocabulary's new kinds (`info_received`,
//! `picked_up`, `available_for_pickup`, `returned_to_sender`, `unknown`) and a scan's raw
//! `code` and `description`; a booking's `label_url`. Snapshots, events, outbox entries and dead letters — the records that can carry
//! them — are written `3` + JSON, so a release before reading one fails on that record with
//! [`StorageError::UnknownSchemaVersion`] instead of silently dropping what it cannot say;
//! every other record is still written as before ([`V2`], or `1` for a reservation that fits
//! v1), byte for byte. A `2` record reads through the same types as a `3`.
//!
//! # What v4 changed
//!
//! Failed deliveries, return parcels and warehouse deadlines (issue 14, second part), again all
//! **optional additions** read by [`v2`]'s types (marked "v4" there): the shipment statuses
//! `returning` and `returned`; a shipment's `attempts`, `exception` (reason, attempt, opened,
//! answer by, answer), `return_to_origin` (reason, when, received) and `pick_pack_late`; the
//! a return case's `parcel` (status, carrier, last scan); the event
//! kinds `delivery_failed`, `exception_answered`, `returning_to_origin`, `returned_to_origin`,
//! `return_scanned` and `pick_pack_late`; the notification kinds `delivery_failed`,
//! `returning_to_origin` and `pick_pack_late`; the causes `exception_timer`,
//! `deadline_timer` and `customer`; the action `instruct_carrier`. Written `4` + JSON for the same records as
//! v3 (a release before then fails on such a record with
//! [`StorageError::UnknownSchemaVersion`]); `2`, `3` and `4` records read through the same
//! types. The v3 release's data is frozen in `tests/fixtures/v3-*`.
//!
//! # What v5 changed
//!
//! Messages (issue 15), again **optional additions**: the customer's preferred `channel` and
//! the channels it `opt_out`s of (v1's `Customer`, shared by every later version, marked "v5"
//! there), and a record of its own for a message delivered to a person ([`encode_sent`], read
//! from 4 on: no release before wrote one). Written `5` + JSON for the records v4 wrote `4` +
//! JSON; `2` to `5` read through the same types. The v4 release's data is frozen in
//! `tests/fixtures/v4-*`.
//!
//! # Adding v6
//!
//! A change that is an optional addition can extend [`v2`]'s types again under a new version
//! byte, as v3, v4 and v5 did. Anything else: add `v6.rs` with the types that change (reusing the others),
//! make the `encode_*` functions of the records that carry them write `6` + v6, and teach the
//! `decode_*` functions to read `6` through v6 and the older versions through their modules,
//! converted into the domain of the day. Either way, freeze a data-directory fixture of the
//! release before (both backends) first.

pub mod v1;
pub mod v2;

use crate::domain::inventory::transfer::Transfer;
use crate::domain::inventory::{Backorders, Reservation, StockLevel};
use crate::domain::stock_alerts::{CellAlert, Subscription};
use crate::domain::{Event, Order};
use crate::{DeadLetter, EventsJson, IdempotencyRecord, OutboxEntry, Result, StorageError};
use serde::{Deserialize, Serialize};

/// The version this release writes snapshots, events, outbox entries and dead letters in.
pub const CURRENT: u8 = 5;

/// The version the records v3 and v4 did not change are still written in (idempotency records, stock
/// levels, reservations that need more than v1, backorders, transfers, alerts, subscriptions,
/// sled's journal): their bytes stay what the release before wrote, which matters where a
/// backend compares stored bytes (the PostgreSQL stock function, for reservations).
pub const V2: u8 = 2;

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

/// `version` followed by `value`'s JSON.
fn encode_as<T: Serialize>(version: u8, value: &T) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    out.push(version);
    serde_json::to_writer(&mut out, value)?;
    Ok(out)
}

/// `CURRENT` followed by `value`'s JSON.
fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    encode_as(CURRENT, value)
}

/// A record's body, read as `V1` or `V2` by its version.
fn decode_versioned<'de, V1, V2, T>(bytes: &'de [u8]) -> Result<T>
where
    V1: Deserialize<'de> + TryInto<T, Error = v1::Invalid>,
    V2: Deserialize<'de> + TryInto<T, Error = v1::Invalid>,
{
    match split_version(bytes)? {
        (1, body) => serde_json::from_slice::<V1>(body)?
            .try_into()
            .map_err(invalid),
        (2..=5, body) => serde_json::from_slice::<V2>(body)?
            .try_into()
            .map_err(invalid),
        (v, _) => Err(StorageError::UnknownSchemaVersion(v)),
    }
}

/// The JSON body of a record of a version whose shape is the same in v1 to v4
/// (idempotency records, stock levels, `version` of a snapshot, events as domain JSON).
fn known_body(bytes: &[u8]) -> Result<&[u8]> {
    match split_version(bytes)? {
        (1..=5, body) => Ok(body),
        (v, _) => Err(StorageError::UnknownSchemaVersion(v)),
    }
}

fn invalid(e: v1::Invalid) -> StorageError {
    StorageError::Codec(e.0)
}

pub fn encode_order(order: &Order) -> Result<Vec<u8>> {
    encode(&v2::Order::from(order))
}

pub fn decode_order(bytes: &[u8]) -> Result<Order> {
    decode_versioned::<v1::Order<'static>, v2::Order<'static>, _>(bytes)
}

/// The version of a stored snapshot, without building the order (readers that check an
/// index entry or an outbox entry against its snapshot need only that).
pub fn decode_order_version(bytes: &[u8]) -> Result<u32> {
    #[derive(Deserialize)]
    struct Version {
        version: u32,
    }
    Ok(serde_json::from_slice::<Version>(known_body(bytes)?)?.version)
}

/// One transition's events, stored as one record.
pub fn encode_events(events: &[Event]) -> Result<Vec<u8>> {
    encode(&v2::events(events))
}

pub fn decode_events(bytes: &[u8]) -> Result<Vec<Event>> {
    match split_version(bytes)? {
        (1, body) => {
            let events: Vec<v1::Event<'static>> = serde_json::from_slice(body)?;
            events
                .into_iter()
                .map(TryInto::try_into)
                .collect::<std::result::Result<_, _>>()
                .map_err(invalid)
        }
        (2..=5, body) => v2::events_back(serde_json::from_slice(body)?).map_err(invalid),
        (v, _) => Err(StorageError::UnknownSchemaVersion(v)),
    }
}

/// One event as its own record (a backend that keeps a row per event).
pub fn encode_event(event: &Event) -> Result<Vec<u8>> {
    encode(&v2::Event::from(event))
}

pub fn decode_event(bytes: &[u8]) -> Result<Event> {
    decode_versioned::<v1::Event<'static>, v2::Event<'static>, _>(bytes)
}

/// The JSON body of a stored event or array of events, in the domain event's shape: stored
/// events of every version this release reads pass through undecoded (see the module doc).
pub fn event_json(bytes: &[u8]) -> Result<&[u8]> {
    known_body(bytes)
}

/// One transition's events as JSON in the domain event's shape, for responses that pass the
/// history through without decoding it.
pub fn history_json(bytes: &[u8]) -> Result<EventsJson> {
    Ok(EventsJson::new(event_json(bytes)?.to_vec()))
}

/// One transition's events from their JSON as an export carries it (the bytes
/// [`history_json`] handed out, of either version: v1 event JSON reads as v2 with the same
/// meaning), stored as they are, marked as the current version.
pub fn events_record(json: &EventsJson) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.as_bytes().len() + 1);
    out.push(CURRENT);
    out.extend_from_slice(json.as_bytes());
    out
}

pub fn encode_outbox(entry: &OutboxEntry) -> Result<Vec<u8>> {
    encode(&v2::OutboxEntry::from(entry))
}

pub fn decode_outbox(bytes: &[u8]) -> Result<OutboxEntry> {
    match split_version(bytes)? {
        (1, body) => Ok(serde_json::from_slice::<v1::OutboxEntry<'static>>(body)?.into()),
        (2..=5, body) => serde_json::from_slice::<v2::OutboxEntry<'static>>(body)?
            .try_into()
            .map_err(invalid),
        (v, _) => Err(StorageError::UnknownSchemaVersion(v)),
    }
}

pub fn encode_idempotency(rec: &IdempotencyRecord) -> Result<Vec<u8>> {
    encode_as(V2, &v2::IdempotencyRecord::from(rec))
}

pub fn decode_idempotency(bytes: &[u8]) -> Result<IdempotencyRecord> {
    Ok(serde_json::from_slice::<v2::IdempotencyRecord<'static>>(known_body(bytes)?)?.into())
}

pub fn encode_dead_letter(letter: &DeadLetter, entry: &OutboxEntry) -> Result<Vec<u8>> {
    encode(&v2::DeadLetter::new(letter, entry))
}

/// The dead letter with its outbox entry in `entry`.
pub fn decode_dead_letter(bytes: &[u8]) -> Result<DeadLetter> {
    match split_version(bytes)? {
        (1, body) => Ok(serde_json::from_slice::<v1::DeadLetter<'static>>(body)?.into()),
        (2..=5, body) => serde_json::from_slice::<v2::DeadLetter<'static>>(body)?
            .try_into()
            .map_err(invalid),
        (v, _) => Err(StorageError::UnknownSchemaVersion(v)),
    }
}

pub fn encode_stock_level(level: &StockLevel) -> Result<Vec<u8>> {
    encode_as(V2, &v2::StockLevel::from(level))
}

pub fn decode_stock_level(bytes: &[u8]) -> Result<StockLevel> {
    Ok(serde_json::from_slice::<v2::StockLevel>(known_body(bytes)?)?.into())
}

/// A reservation as `1` + v1 when it fits v1 ([`v2::reservation_as_v1`]: one part, shipment
/// 1, in the record's state, or a tombstone) — the very bytes the release before shipments
/// wrote, which the PostgreSQL stock function compares — else `2` + v2.
pub fn encode_reservation(r: &Reservation) -> Result<Vec<u8>> {
    match v2::reservation_as_v1(r) {
        Some(old) => encode_as(1, &old),
        None => encode_as(V2, &v2::Reservation::from(r)),
    }
}

pub fn decode_reservation(bytes: &[u8]) -> Result<Reservation> {
    match split_version(bytes)? {
        (1, body) => Ok(serde_json::from_slice::<v1::Reservation<'static>>(body)?.into()),
        (2, body) => Ok(serde_json::from_slice::<v2::Reservation<'static>>(body)?.into()),
        (v, _) => Err(StorageError::UnknownSchemaVersion(v)),
    }
}

/// One sku's backorder record (`2` + v2: the record is new in v2).
pub fn encode_backorders(b: &Backorders) -> Result<Vec<u8>> {
    encode_as(V2, &v2::Backorders::from(b))
}

pub fn decode_backorders(bytes: &[u8]) -> Result<Backorders> {
    match split_version(bytes)? {
        (2, body) => Ok(serde_json::from_slice::<v2::Backorders>(body)?.into()),
        (v, _) => Err(StorageError::UnknownSchemaVersion(v)),
    }
}

/// A transfer between warehouses (`2` + v2: the record is new in v2).
pub fn encode_transfer(t: &Transfer) -> Result<Vec<u8>> {
    encode_as(V2, &v2::Transfer::from(t))
}

pub fn decode_transfer(bytes: &[u8]) -> Result<Transfer> {
    match split_version(bytes)? {
        (2, body) => Ok(serde_json::from_slice::<v2::Transfer<'_>>(body)?.into()),
        (v, _) => Err(StorageError::UnknownSchemaVersion(v)),
    }
}

/// A stock cell's alert record (`2` + v2: new with stock alerts).
pub fn encode_cell_alert(c: &CellAlert) -> Result<Vec<u8>> {
    encode_as(V2, &v2::CellAlert::from(c))
}

pub fn decode_cell_alert(bytes: &[u8]) -> Result<CellAlert> {
    match split_version(bytes)? {
        (2, body) => Ok(serde_json::from_slice::<v2::CellAlert>(body)?.into()),
        (v, _) => Err(StorageError::UnknownSchemaVersion(v)),
    }
}

/// A back-in-stock subscription (`2` + v2: new with stock alerts).
pub fn encode_subscription(s: &Subscription) -> Result<Vec<u8>> {
    encode_as(V2, &v2::Subscription::from(s))
}

pub fn decode_subscription(bytes: &[u8]) -> Result<Subscription> {
    match split_version(bytes)? {
        (2, body) => Ok(serde_json::from_slice::<v2::Subscription<'static>>(body)?.into()),
        (v, _) => Err(StorageError::UnknownSchemaVersion(v)),
    }
}

/// A message delivered to a person: `CURRENT` + JSON.
pub fn encode_sent(m: &crate::SentMessage) -> Result<Vec<u8>> {
    encode(&v2::SentMessage::from(m))
}

pub fn decode_sent(bytes: &[u8]) -> Result<crate::SentMessage> {
    match split_version(bytes)? {
        (4..=CURRENT, body) => Ok(serde_json::from_slice::<v2::SentMessage<'static>>(body)?.into()),
        (v, _) => Err(StorageError::UnknownSchemaVersion(v)),
    }
}

/// Any other record a backend keeps (sled's inventory journal): `2` + JSON of a type built
/// from v2's types (v3 changed none of them).
pub fn encode_record<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    encode_as(V2, value)
}

/// Such a record's version and JSON body: the backend reads the body with its type of that
/// version (the journal of a release before kept v1 reservations).
pub fn record_body(bytes: &[u8]) -> Result<(u8, &[u8])> {
    split_version(bytes)
}

#[cfg(test)]
mod tests;
