//! What Orderly says to people, and how: the message templates of every notification kind in
//! every shipped locale and channel ([`templates`]), the variables each kind has
//! ([`context`]), how each locale writes money and dates ([`locale`]), and how many SMS a text
//! is ([`segments`]).
//!
//! The notifier (in `orderly-actors`) decides *when* and *where* a message goes; this crate
//! decides *what it says*. It depends on the domain only, does no I/O but reading a shop's
//! template directory once at start, and is tested on its own.

pub mod context;
pub mod locale;
pub mod sample;
pub mod segments;
pub mod templates;

pub use context::{Kind, Shop};
pub use locale::Locale;
pub use templates::{Channel, Rendered, TemplateError, Templates};
