//! Black-box tests of the `orderly` binary: each test starts the real service as a child
//! process on a free port with its own data directory and drives it over HTTP only.
//!
//! Modules: `support` (process harness, HTTP client, polling, webhook receiver), `lifecycle`
//! (happy paths end to end), `api_edges` (auth, validation, errors, pagination, ops),
//! `automation` (timers and automatic cancellations), `crash` (SIGKILL durability and
//! exactly-once effects), `notifications` (signed webhooks, retries, dead letters), `email`
//! (messages over SMTP to a real server, in the customer's language), `previews` (messages
//! rendered for a shop to check its templates), `sms` (SMS and WhatsApp through a local
//! provider's HTTP API),
//! `http_contract` (what responses leave out, the OpenAPI document, 405s, integral numbers),
//! `upgrade` (a data directory written by the release before the storage interface opens and
//! serves), `upgrade_v1` (what the v1 release wrote, a sled data directory and a PostgreSQL
//! dump, opens and carries on), `upgrade_v2` (the same for what the v2 release wrote: split
//! orders, shipments in every state, backorders), `upgrade_v3` (the same for what the v3
//! release wrote: delivery promises and plans, carrier rules and prices, HTTP carriers, carriers'
//! own codes, `delayed`, transfers and stock alerts), `upgrade_v4` (the same for what the v4
//! release wrote: failed deliveries, delivery exceptions open and answered, shipments going
//! back to origin, return parcels, `pick_pack_late`, and their pending timers), `nodes`
//! (several nodes over one PostgreSQL database), `moving_data` (`orderly export` / `import`
//! into a fresh data directory, and
//! `orderly backup` of a running service under load, each served afterwards), `shipments`
//! (orders split across warehouses, per-shipment routes, on sled and PostgreSQL), `backorders`
//! (short orders waiting for stock and confirmed as it arrives, oldest first), `warehouses`
//! (configured warehouses, availability, keys bound to warehouses).

mod api_edges;
mod automation;
mod backorders;
mod carrier_integration;
mod config_errors;
mod crash;
mod email;
mod failed_deliveries;
mod harness;
mod http_contract;
mod lifecycle;
mod moving_data;
mod nodes;
mod notifications;
mod previews;
mod promises;
mod shipments;
mod sms;
mod stock_alerts;
mod support;
mod tracking_codes;
mod transfers;
mod upgrade;
mod upgrade_v1;
mod upgrade_v2;
mod upgrade_v3;
mod upgrade_v4;
mod upgrade_walk;
mod warehouses;
