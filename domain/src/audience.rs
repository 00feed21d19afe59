//! Who a notification is for: the customer (through the customer channels), the shop's
//! operations recipients (`[notifications.operations]`), or both. One name for order
//! notifications ([`crate::NotificationKind::audience`]) and stock notices
//! ([`crate::stock_alerts::NoticeKind::audience`]).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The order's customer, or the back-in-stock subscriber a notice names.
    Customer,
    Operations,
    CustomerAndOperations,
}

impl Audience {
    pub fn includes_customer(self) -> bool {
        matches!(self, Audience::Customer | Audience::CustomerAndOperations)
    }

    pub fn includes_operations(self) -> bool {
        matches!(self, Audience::Operations | Audience::CustomerAndOperations)
    }
}
