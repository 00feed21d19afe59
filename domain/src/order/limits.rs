//! Upper bounds on anything a client can make an order hold, so a body cannot grow state
//! without limit. Checked by `NewOrder::validate` and by `decide`.

pub const MAX_LINES: usize = 100;
pub const MAX_QUANTITY: u32 = 10_000;
pub const MAX_UNIT_PRICE: i64 = 1_000_000_000_000;
pub const MAX_TEXT: usize = 200;
pub const MAX_REASON: usize = 500;
pub const MAX_PARCELS: usize = 50;
pub const MAX_PARCEL_GRAMS: u32 = 1_000_000;
pub const MAX_CARRIER_EVENTS: usize = 500;
/// Most units of one sku a transfer between warehouses moves.
pub const MAX_TRANSFER_QUANTITY: u32 = 1_000_000;
