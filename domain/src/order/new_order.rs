//! A request to place an order (`NewOrder`) and the checks it must pass before `decide` will
//! place it: everything that does not depend on stored state.

use super::error::{invalid, DomainError};
use super::limits;
use super::model::{Address, Customer, InitialPaymentStatus, PaymentMethod, Shipping};
use super::validate::{is_country_code, opt_text, text};
use crate::ids::Sku;
use crate::money::Currency;
use serde::{Deserialize, Serialize};

/// A validated request to place an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOrder {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_ref: Option<String>,
    pub customer: Customer,
    pub currency: Currency,
    pub lines: Vec<NewLine>,
    pub shipping: Shipping,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_address: Option<Address>,
    pub payment: NewPayment,
    /// Whether the order may be split across warehouses when no single one can serve it;
    /// absent: the shop's `[allocation] allow_split`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_split: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewLine {
    pub sku: Sku,
    pub quantity: u32,
    /// Price of one unit in minor units.
    pub unit_price: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPayment {
    pub method: PaymentMethod,
    pub status: InitialPaymentStatus,
}

fn validate_address(prefix: &str, a: &Address) -> Result<(), DomainError> {
    text(&format!("{prefix}.name"), &a.name, limits::MAX_TEXT)?;
    text(&format!("{prefix}.line1"), &a.line1, limits::MAX_TEXT)?;
    opt_text(&format!("{prefix}.line2"), &a.line2, limits::MAX_TEXT)?;
    text(&format!("{prefix}.city"), &a.city, limits::MAX_TEXT)?;
    text(&format!("{prefix}.postal_code"), &a.postal_code, 20)?;
    if !is_country_code(&a.country) {
        return Err(invalid(
            format!("{prefix}.country"),
            "must be an ISO 3166-1 alpha-2 code in upper case, e.g. NL",
        ));
    }
    Ok(())
}

impl NewOrder {
    /// Checks everything about a new order that does not depend on stored state.
    pub fn validate(&self) -> Result<(), DomainError> {
        opt_text("external_ref", &self.external_ref, limits::MAX_TEXT)?;
        text("customer.id", &self.customer.id, limits::MAX_TEXT)?;
        text("customer.email", &self.customer.email, 254)?;
        let email = &self.customer.email;
        match email.split_once('@') {
            Some((local, domain))
                if !local.is_empty() && domain.contains('.') && !domain.starts_with('.') => {}
            _ => return Err(invalid("customer.email", "must be an email address")),
        }
        opt_text("customer.phone", &self.customer.phone, 32)?;
        if let Some(phone) = &self.customer.phone {
            if !crate::phone::is_e164(phone) {
                return Err(invalid(
                    "customer.phone",
                    "must be a phone number in E.164: '+', then 8 to 15 digits, no spaces (+31612345678)",
                ));
            }
        }
        opt_text("customer.locale", &self.customer.locale, 35)?;
        if let Some(channel) = self.customer.channel {
            if channel.needs_phone() && self.customer.phone.is_none() {
                return Err(invalid(
                    "customer.channel",
                    format!("{} needs customer.phone", channel.as_str()),
                ));
            }
            if self.customer.opt_out.contains(&channel) {
                return Err(invalid(
                    "customer.channel",
                    "the preferred channel is also opted out of",
                ));
            }
        }
        for (i, c) in self.customer.opt_out.iter().enumerate() {
            if self.customer.opt_out[..i].contains(c) {
                return Err(invalid(
                    format!("customer.opt_out[{i}]"),
                    format!("'{}' appears twice", c.as_str()),
                ));
            }
        }
        if self.lines.is_empty() {
            return Err(invalid("lines", "an order needs at least one line"));
        }
        if self.lines.len() > limits::MAX_LINES {
            return Err(invalid(
                "lines",
                format!("at most {} lines per order", limits::MAX_LINES),
            ));
        }
        let mut total: i64 = 0;
        for (i, l) in self.lines.iter().enumerate() {
            Sku::parse(&format!("lines[{i}].sku"), &l.sku)?;
            if self.lines[..i].iter().any(|o| o.sku == l.sku) {
                return Err(invalid(
                    format!("lines[{i}].sku"),
                    format!("sku '{}' appears twice", l.sku),
                ));
            }
            if l.quantity == 0 || l.quantity > limits::MAX_QUANTITY {
                return Err(invalid(
                    format!("lines[{i}].quantity"),
                    format!("must be between 1 and {}", limits::MAX_QUANTITY),
                ));
            }
            if l.unit_price < 0 || l.unit_price > limits::MAX_UNIT_PRICE {
                return Err(invalid(
                    format!("lines[{i}].unit_price"),
                    "must be a non-negative amount in minor units",
                ));
            }
            total = l
                .unit_price
                .checked_mul(l.quantity as i64)
                .and_then(|t| t.checked_add(total))
                .ok_or_else(|| invalid("lines", "order total is too large"))?;
        }
        opt_text("shipping.method", &self.shipping.method, 32)?;
        validate_address("shipping.address", &self.shipping.address)?;
        if let Some(b) = &self.billing_address {
            validate_address("billing_address", b)?;
        }
        Ok(())
    }
}
