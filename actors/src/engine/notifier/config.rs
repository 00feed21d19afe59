//! `[notifications]`: which channels are on, which kinds go where, where operations alerts
//! go, and how failed attempts are retried. Checked once at start ([`NotifierConfig::validate`]),
//! so a bad URL, address or route stops the service with one line instead of filling the
//! dead-letter list later.

use super::channels::email::EmailConfig;
use super::channels::provider::ProviderConfig;
use crate::domain::phone::is_e164;
use crate::domain::{NotificationKind, Order};
use crate::engine::webhook::WebhookSecret;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The channel names, as outbox entries carry them.
pub const LOG: &str = "log";
pub const WEBHOOK: &str = "webhook";
pub const EMAIL: &str = "email";
pub const SMS: &str = "sms";
pub const WHATSAPP: &str = "whatsapp";
/// In a route: the customer's own channel (today the shop's `customer_channel`).
const CUSTOMER: &str = "customer";
/// The channels that speak to people with templates (the rest are for machines).
const PERSON_CHANNELS: [&str; 3] = [EMAIL, SMS, WHATSAPP];

fn yes() -> bool {
    true
}

fn default_max_attempts() -> u32 {
    8
}

fn default_backoff_base_ms() -> u64 {
    500
}

fn default_backoff_cap_ms() -> u64 {
    60_000
}

fn default_timeout_ms() -> u64 {
    5_000
}

fn default_shop_name() -> String {
    "Orderly shop".to_string()
}

fn default_locale() -> String {
    "en".to_string()
}

fn default_customer_channel() -> String {
    EMAIL.to_string()
}

/// The `notifications` section of the configuration.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NotifierConfig {
    /// Log channel on/off.
    #[serde(default = "yes")]
    pub log: bool,
    /// HTTP webhook channel; off when absent.
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
    /// E-mail over SMTP (`[notifications.email]`); off when absent.
    #[serde(default)]
    pub email: Option<EmailConfig>,
    /// SMS through a provider's HTTP API (`[notifications.sms]`); off when absent.
    #[serde(default)]
    pub sms: Option<ProviderConfig>,
    /// WhatsApp through a provider's HTTP API (`[notifications.whatsapp]`); off when absent.
    #[serde(default)]
    pub whatsapp: Option<ProviderConfig>,
    /// The shop's name in messages.
    #[serde(default = "default_shop_name")]
    pub shop_name: String,
    /// The customer's tracking page in messages, `{token}` standing for the order's tracking
    /// token; absent: messages carry no link.
    #[serde(default)]
    pub tracking_url: Option<String>,
    /// The language of messages to a customer whose order names none (`en`, `ro`, `tr`, `ar`).
    #[serde(default = "default_locale")]
    pub default_locale: String,
    /// The customer's channel (`customer` in a route) when the order names none: `email`,
    /// `sms` or `whatsapp`.
    #[serde(default = "default_customer_channel")]
    pub customer_channel: String,
    /// Per notification kind, the person channels it goes to: `["customer"]` (the default),
    /// a fixed list (`["email"]`), or none (`[]`). The log and the webhook get every kind.
    #[serde(default)]
    pub routes: BTreeMap<String, Vec<String>>,
    /// A directory of the shop's own templates, over the shipped ones.
    #[serde(default)]
    pub templates_dir: Option<PathBuf>,
    /// Attempts per message (the first one included) before it is dead-lettered.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Backoff scale: the first retry waits about this long.
    #[serde(default = "default_backoff_base_ms")]
    pub backoff_base_ms: u64,
    /// Longest wait between two attempts.
    #[serde(default = "default_backoff_cap_ms")]
    pub backoff_cap_ms: u64,
    /// Where operations alerts (`low_stock`) go.
    #[serde(default)]
    pub operations: OperationsConfig,
}

/// `[notifications.operations]`: the operations recipients of stock alerts, delays, returns
/// to origin and missed deadlines. By default they are logged and, when the shop has a
/// `notifications.webhook`, posted there too; with `email` addresses and an e-mail channel,
/// mailed to them.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OperationsConfig {
    /// Log operations alerts (default: on).
    #[serde(default = "yes")]
    pub log: bool,
    /// Where to POST operations alerts, signed like every webhook; absent: the shop's
    /// `notifications.webhook`, if there is one.
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
    /// Addresses operations alerts are mailed to (one message to all), through
    /// `[notifications.email]`.
    #[serde(default)]
    pub email: Vec<String>,
}

impl Default for OperationsConfig {
    fn default() -> Self {
        OperationsConfig {
            log: yes(),
            webhook: None,
            email: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST notifications: `https://` (rustls, the system's roots) or `http://`.
    pub url: String,
    /// Signing secret, `whsec_<base64>` (Standard Webhooks) or a raw string.
    pub secret: String,
    /// Limit on one attempt, connecting included.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

impl WebhookConfig {
    /// Checks one webhook's settings; `at` names its section in messages.
    fn validate(&self, at: &str) -> Result<(), String> {
        let url = self.url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "{at}.url: must start with http:// or https://, got '{url}'"
            ));
        }
        match url.parse::<awc::http::Uri>() {
            Ok(uri) if uri.host().is_some_and(|h| !h.is_empty()) => {}
            Ok(_) => return Err(format!("{at}.url: '{url}' has no host")),
            Err(e) => return Err(format!("{at}.url: '{url}' is not a valid URL: {e}")),
        }
        WebhookSecret::parse(&self.secret).map_err(|e| format!("{at}.secret: {e}"))?;
        if self.timeout_ms == 0 {
            return Err(format!("{at}.timeout_ms: must be at least 1"));
        }
        Ok(())
    }
}

impl Default for NotifierConfig {
    fn default() -> Self {
        NotifierConfig {
            log: yes(),
            webhook: None,
            email: None,
            sms: None,
            whatsapp: None,
            shop_name: default_shop_name(),
            tracking_url: None,
            default_locale: default_locale(),
            customer_channel: default_customer_channel(),
            routes: BTreeMap::new(),
            templates_dir: None,
            max_attempts: default_max_attempts(),
            backoff_base_ms: default_backoff_base_ms(),
            backoff_cap_ms: default_backoff_cap_ms(),
            operations: OperationsConfig::default(),
        }
    }
}

impl NotifierConfig {
    /// Names of the enabled machine channels, "log" and/or "webhook", in that order: every
    /// notification for a customer gets an outbox entry on each (the person channels are
    /// chosen per kind and order, see [`NotifierConfig::person_channels`]).
    pub fn channels(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.log {
            out.push(LOG.to_string());
        }
        if self.webhook.is_some() {
            out.push(WEBHOOK.to_string());
        }
        out
    }

    /// Names of the channels operations alerts go to: "log" (`operations.log`), "webhook"
    /// (`operations.webhook`, or else the shop's webhook) and "email" (`operations.email`
    /// with an e-mail channel). The stock alerts write one outbox entry per channel; the
    /// notifier resolves the names against `operations`.
    pub fn operations_channels(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.operations.log {
            out.push(LOG.to_string());
        }
        if self.operations.webhook.is_some() || self.webhook.is_some() {
            out.push(WEBHOOK.to_string());
        }
        if self.email.is_some() && !self.operations.email.is_empty() {
            out.push(EMAIL.to_string());
        }
        out
    }

    /// The person channels a customer's notification of `kind` goes to for `order`: the
    /// kind's route (default `["customer"]`), `customer` read as the order's preferred channel
    /// (else the shop's `customer_channel`), less channels that are not configured, that the
    /// customer opted out of, or cannot be reached on (no phone number for SMS and WhatsApp);
    /// each once, in the route's order.
    pub fn person_channels(&self, kind: NotificationKind, order: &Order) -> Vec<&'static str> {
        let customer = &order.customer;
        let has_phone = customer.phone.as_deref().is_some_and(is_e164);
        let preferred = customer
            .channel
            .map_or(self.customer_channel.as_str(), |c| c.as_str());
        let route = self.routes.get(kind.as_str());
        let wanted = route.map_or(&[][..], Vec::as_slice);
        let mut out: Vec<&'static str> = Vec::new();
        let mut add = |name: &str| {
            let name = if name == CUSTOMER { preferred } else { name };
            if let Some(c) = PERSON_CHANNELS.iter().find(|c| **c == name) {
                let reachable = *c == EMAIL || has_phone;
                let opted_out = customer.opt_out.iter().any(|o| o.as_str() == *c);
                if self.configured(c) && reachable && !opted_out && !out.contains(c) {
                    out.push(c);
                }
            }
        };
        match route {
            Some(_) => wanted.iter().for_each(|n| add(n)),
            None => add(CUSTOMER),
        }
        out
    }

    /// The message templates: the shipped ones with the shop's over them, checked.
    pub fn templates(&self) -> Result<orderly_messages::Templates, String> {
        orderly_messages::Templates::load(self.templates_dir.as_deref())
            .map_err(|e| format!("notifications.templates_dir: template {e}"))
    }

    /// The locale of messages whose order names none.
    pub fn default_locale(&self) -> orderly_messages::Locale {
        orderly_messages::Locale::parse(&self.default_locale)
            .unwrap_or(orderly_messages::Locale::En)
    }

    /// Whether a person channel is set up.
    fn configured(&self, channel: &str) -> bool {
        match channel {
            EMAIL => self.email.is_some(),
            SMS => self.sms.is_some(),
            WHATSAPP => self.whatsapp.is_some(),
            _ => false,
        }
    }

    /// The person channels a back-in-stock subscriber with `contact` is told on: e-mail for
    /// an address, SMS for a phone number, when the shop has them.
    pub fn subscriber_channels(&self, contact: &str) -> Vec<&'static str> {
        if contact.contains('@') && self.email.is_some() {
            vec![EMAIL]
        } else if is_e164(contact) && self.sms.is_some() {
            vec![SMS]
        } else {
            Vec::new()
        }
    }

    /// Checks the section at start, so a bad URL or secret stops the service with a clear
    /// message instead of filling the dead-letter list later.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(w) = &self.webhook {
            w.validate("notifications.webhook")?;
        }
        if let Some(w) = &self.operations.webhook {
            w.validate("notifications.operations.webhook")?;
        }
        if let Some(e) = &self.email {
            e.validate("notifications.email")?;
        }
        if let Some(p) = &self.sms {
            p.validate("notifications.sms")?;
        }
        if let Some(p) = &self.whatsapp {
            p.validate("notifications.whatsapp")?;
        }
        for (i, address) in self.operations.email.iter().enumerate() {
            super::channels::email::check_address(address)
                .map_err(|e| format!("notifications.operations.email[{i}]: {e}"))?;
        }
        if !self.operations.email.is_empty() && self.email.is_none() {
            return Err(
                "notifications.operations.email: needs [notifications.email] to send through"
                    .to_string(),
            );
        }
        if self.shop_name.trim().is_empty() {
            return Err("notifications.shop_name: must not be empty".to_string());
        }
        if let Some(url) = &self.tracking_url {
            if !(url.starts_with("https://") || url.starts_with("http://"))
                || !url.contains("{token}")
            {
                return Err(format!("notifications.tracking_url: must be an http(s) URL with {{token}} in it, got '{url}'"));
            }
        }
        if orderly_messages::Locale::parse(&self.default_locale).is_none() {
            return Err(format!(
                "notifications.default_locale: '{}' is not one of en, ro, tr, ar",
                self.default_locale
            ));
        }
        if !PERSON_CHANNELS.contains(&self.customer_channel.as_str()) {
            return Err(format!(
                "notifications.customer_channel: '{}' is not a person channel (there are: {})",
                self.customer_channel,
                PERSON_CHANNELS.join(", ")
            ));
        }
        for (kind, channels) in &self.routes {
            let Some(k) = NotificationKind::ALL.iter().find(|k| k.as_str() == kind) else {
                return Err(format!(
                    "notifications.routes.{kind}: no such notification kind (there are: {})",
                    NotificationKind::ALL.map(|k| k.as_str()).join(", ")
                ));
            };
            if !k.audience().includes_customer() {
                return Err(format!(
                    "notifications.routes.{kind}: goes to operations only (see [notifications.operations])"
                ));
            }
            for c in channels {
                if c != CUSTOMER && !PERSON_CHANNELS.contains(&c.as_str()) {
                    return Err(format!(
                        "notifications.routes.{kind}: '{c}' is not a person channel (there are: customer, {})",
                        PERSON_CHANNELS.join(", ")
                    ));
                }
                if c != CUSTOMER && !self.configured(c) {
                    return Err(format!(
                        "notifications.routes.{kind}: channel '{c}' is not configured (no [notifications.{c}])"
                    ));
                }
            }
        }
        self.templates()?;
        if self.max_attempts == 0 {
            return Err("notifications.max_attempts: must be at least 1".to_string());
        }
        if self.backoff_base_ms == 0 {
            return Err("notifications.backoff_base_ms: must be at least 1".to_string());
        }
        if self.backoff_base_ms > self.backoff_cap_ms {
            return Err(format!(
                "notifications.backoff_base_ms: {} is larger than notifications.backoff_cap_ms ({})",
                self.backoff_base_ms, self.backoff_cap_ms
            ));
        }
        Ok(())
    }
}
