//! The names stock is kept under: a warehouse's id, a sku, and the cell that pairs them.
//!
//! Newtypes so that a warehouse is never passed where a sku is meant (both used to be plain
//! strings, and stock cells `(String, String)` tuples). Each is stored and sent as the bare
//! string (`#[serde(transparent)]`), so data written before they existed reads unchanged. They
//! dereference to `str` and borrow as `str`, so reading one (a map lookup, a comparison, a
//! message) costs nothing; making one from outside input goes through [`Sku::parse`] or the
//! configured warehouses ([`crate::warehouse::is_known`]).

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

use crate::order::DomainError;

macro_rules! name {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a name already known to be sound (config, stored data, tests).
            pub fn new(name: impl Into<String>) -> Self {
                $name(name.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_string())
            }
        }

        impl From<&$name> for $name {
            fn from(n: &$name) -> Self {
                n.clone()
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }
    };
}

name! {
    /// A warehouse's id as configured (`ams`): in URLs, stock cells, keys bound to it.
    WarehouseId
}

name! {
    /// A stock keeping unit: what a line orders and a stock cell counts.
    Sku
}

impl Sku {
    /// Longest sku accepted.
    pub const MAX_LEN: usize = 64;

    /// A sku from outside input, checked: 1 to 64 characters, no control characters, no `/`
    /// (it is a path segment of the inventory API) and no white space. Errors name `field`.
    pub fn parse(field: &str, sku: &str) -> Result<Sku, DomainError> {
        crate::order::validate::text(field, sku, Self::MAX_LEN)?;
        if sku.contains('/') || sku.chars().any(char::is_whitespace) {
            return Err(DomainError::Invalid {
                field: field.to_string(),
                message: "must not contain '/' or white space".to_string(),
            });
        }
        Ok(Sku(sku.to_string()))
    }
}

/// One stock cell's key: a sku in a warehouse. Ordered by warehouse, then sku.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CellKey {
    pub warehouse: WarehouseId,
    pub sku: Sku,
}

impl CellKey {
    pub fn new(warehouse: impl Into<WarehouseId>, sku: impl Into<Sku>) -> CellKey {
        CellKey {
            warehouse: warehouse.into(),
            sku: sku.into(),
        }
    }
}

impl fmt::Display for CellKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.warehouse, self.sku)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stored_as_bare_strings() {
        let sku = Sku::new("A-1");
        assert_eq!(serde_json::to_string(&sku).unwrap(), r#""A-1""#);
        let back: WarehouseId = serde_json::from_str(r#""ams""#).unwrap();
        assert_eq!(back, "ams");
    }

    #[test]
    fn a_sku_from_outside_is_checked() {
        for (input, ok) in [
            ("A", true),
            ("sku-1.2_x", true),
            ("", false),
            ("a/b", false),
            ("a b", false),
            ("a\tb", false),
            (&"x".repeat(64), true),
            (&"x".repeat(65), false),
        ] {
            let got = Sku::parse("lines[0].sku", input);
            assert_eq!(got.is_ok(), ok, "{input:?}");
            if let Err(DomainError::Invalid { field, .. }) = got {
                assert_eq!(field, "lines[0].sku");
            }
        }
    }

    #[test]
    fn cells_order_by_warehouse_then_sku() {
        let mut cells = [
            CellKey::new("rtm", "A"),
            CellKey::new("ams", "B"),
            CellKey::new("ams", "A"),
        ];
        cells.sort();
        let shown: Vec<String> = cells.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["ams/A", "ams/B", "rtm/A"]);
    }
}
