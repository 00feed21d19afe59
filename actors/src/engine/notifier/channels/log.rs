//! The `log` channel: a structured `tracing` line per message. Cannot fail; for development
//! and audits. It carries no personal data (no address, no contact): the ids say which order
//! or subscription it was about.

use super::{Attempt, Channel, Needs, Outcome, Outgoing, Receipt, Recipient, Subject};
use crate::domain::stock_alerts::NoticeKind;

pub struct Log;

impl Channel for Log {
    fn needs(&self) -> Needs {
        // The line needs no order data, only the order's existence (a message for a missing
        // order is dead-lettered like on every channel).
        Needs::OrderExists
    }

    fn send(&self, m: Outgoing) -> Attempt {
        let audience = match m.recipient {
            Recipient::Customer => "customer",
            Recipient::Operations => "operations",
        };
        match &m.subject {
            Subject::Order { kind, .. } => tracing::info!(
                message_id = %m.message_id,
                order_id = %m.entry.order_id().unwrap_or_default(),
                kind = kind.as_str(),
                audience,
                "notification"
            ),
            Subject::Notice(notice) => match &notice.kind {
                NoticeKind::LowStock {
                    warehouse,
                    sku,
                    reorder_point,
                    available,
                } => tracing::info!(
                    message_id = %m.message_id,
                    kind = notice.kind.name(),
                    warehouse = %warehouse,
                    sku = %sku,
                    reorder_point,
                    available,
                    "stock alert"
                ),
                NoticeKind::BackInStock { sku, available, .. } => tracing::info!(
                    message_id = %m.message_id,
                    kind = notice.kind.name(),
                    subscription = %notice.subject,
                    sku = %sku,
                    available,
                    "stock alert"
                ),
            },
        }
        Attempt::Done(Outcome::Delivered(Receipt::default()))
    }
}
