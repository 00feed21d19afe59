//! The seam between the notifier and the ways a message leaves: one module per channel behind
//! [`Channel`], and [`Channels`], the table from the name an outbox entry carries to the
//! channel that sends it.
//!
//! The notifier core (retries, backoff, dead letters, stable ids) knows no channel: it asks
//! one what it [`Needs`] read before an attempt, hands it an [`Outgoing`] message, and acts on
//! the [`Outcome`]. A channel knows nothing of retries: it makes one attempt and says how it
//! ended, telling a failure worth retrying from a permanent one.
//!
//! Names: an entry's channel is `log`, `webhook` or `email` for the customer (or the shop's
//! own systems), and `operations.<name>` for the operations recipients. Stock notices were
//! written before that prefix and carry the bare name; their audience says who they are for
//! ([`Channels::route`]).

pub mod email;
pub mod log;
pub mod provider;
pub mod webhook;

use super::config::{NotifierConfig, EMAIL, LOG, SMS, WEBHOOK, WHATSAPP};
use crate::domain::stock_alerts::{NoticeKind, StockNotice};
use crate::domain::{Audience, NotificationKind, Order};
use chrono::{DateTime, Utc};
use futures::future::LocalBoxFuture;
use orderly_messages::Templates;
use orderly_storage::OutboxEntry;
use std::collections::HashMap;
use std::sync::Arc;

/// The prefix of a channel name when the message goes to operations.
pub(crate) const OPERATIONS_PREFIX: &str = "operations.";

/// What an attempt must read before a channel can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Only that the order still exists.
    OrderExists,
    /// The order as it is now (its data goes into the message).
    Order,
}

/// Who a message is addressed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient {
    /// The order's customer, or the subscriber a back-in-stock notice names.
    Customer,
    Operations,
}

/// What the message is about.
#[derive(Debug, Clone)]
pub enum Subject {
    /// An order's notification; `order` is loaded when the channel [`Needs::Order`].
    Order {
        kind: NotificationKind,
        order: Option<Box<Order>>,
    },
    Notice(StockNotice),
}

/// One attempt's message, as a channel gets it.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The same on every attempt: receivers recognise a redelivery by it.
    pub message_id: String,
    pub entry: OutboxEntry,
    pub subject: Subject,
    pub recipient: Recipient,
    /// When this attempt is made (the injected clock).
    pub now: DateTime<Utc>,
}

/// What a delivered message left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receipt {
    /// The receiving side's id for it (an SMTP server's queue reply), when it gave one.
    pub provider_id: Option<String>,
    /// Its locale was not shipped or edited: it went out in English.
    pub fell_back: bool,
    /// An SMS: the parts it went out as.
    pub segments: Option<u32>,
    /// A person channel: the address or number it went to (kept on the order's message log).
    pub to: Option<String>,
    /// A person channel: the language it was written in.
    pub locale: Option<String>,
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered(Receipt),
    /// Worth retrying: the receiver or the storage may recover.
    Failed(String),
    /// Retrying cannot help (the order is gone, the receiver refused for good): dead-letter
    /// now, for an operator to look at.
    Permanent(String),
}

/// One attempt under way: ended already (the log, a message that cannot be composed), or
/// waiting on the receiver.
pub enum Attempt {
    Done(Outcome),
    /// Runs on the notifier's thread.
    Pending(LocalBoxFuture<'static, Outcome>),
}

/// A way messages leave.
pub trait Channel: Send + Sync {
    /// What the attempt must read first.
    fn needs(&self) -> Needs;

    /// One attempt.
    fn send(&self, message: Outgoing) -> Attempt;

    /// How many attempts may be under way at once (`None`: no bound). The notifier holds the
    /// rest back, in arrival order, so a slow receiver gets a steady stream rather than a
    /// burst of connections, and waiting messages cost an outbox entry each, not a message.
    fn max_in_flight(&self) -> Option<usize> {
        None
    }
}

/// What channels share: the templates and how messages name the shop.
pub struct Speech {
    pub templates: Templates,
    pub shop: orderly_messages::Shop,
    pub default_locale: orderly_messages::Locale,
}

/// What a person channel says for one message, and to whom the order (or notice) says it.
pub struct Spoken {
    pub rendered: orderly_messages::Rendered,
    /// The customer's (or subscriber's) address on the channel: e-mail for e-mail, the phone
    /// number for SMS and WhatsApp; `None` for a message about stock to operations.
    pub to: Option<String>,
    /// The language asked for is not shipped (or its template is missing): English.
    pub fell_back: bool,
    /// About an order's progress (not, say, a back-in-stock offer).
    pub about_an_order: bool,
}

impl Speech {
    /// Renders `m` for `medium`: the kind's template in the customer's language (the shop's
    /// default for operations and stock notices). A template that fails on this message's data
    /// is worth retrying (a shop may fix it); a missing order is not.
    pub fn speak(
        &self,
        m: &Outgoing,
        medium: orderly_messages::Channel,
    ) -> Result<Spoken, Outcome> {
        use orderly_messages::{context, Kind, Locale};
        let customer_address = |email: &str, phone: Option<&str>| match medium {
            orderly_messages::Channel::Email => Some(email.to_string()),
            _ => phone.map(String::from),
        };
        let (kind, vars, to, locale, about_an_order) = match &m.subject {
            Subject::Order { order: None, .. } => {
                return Err(Outcome::Permanent("order not found".to_string()))
            }
            Subject::Order {
                kind,
                order: Some(order),
            } => {
                let asked = match m.recipient {
                    Recipient::Customer => order.customer.locale.as_deref(),
                    Recipient::Operations => None,
                };
                let locale = Locale::resolve(asked, self.default_locale);
                let vars = context::for_order(*kind, order, &self.shop, locale.locale);
                let to = customer_address(&order.customer.email, order.customer.phone.as_deref());
                (Kind::Order(*kind), vars, to, locale, true)
            }
            Subject::Notice(notice) => {
                let locale = Locale::resolve(None, self.default_locale);
                let vars = context::for_notice(notice, &self.shop, locale.locale);
                match &notice.kind {
                    NoticeKind::LowStock { .. } => (Kind::LowStock, vars, None, locale, true),
                    NoticeKind::BackInStock { contact, .. } => (
                        Kind::BackInStock,
                        vars,
                        Some(contact.clone()),
                        locale,
                        false,
                    ),
                }
            }
        };
        let rendered = self
            .templates
            .render(kind, locale.locale, medium, &vars)
            .map_err(|e| Outcome::Failed(format!("template {e}")))?;
        Ok(Spoken {
            fell_back: locale.fell_back || rendered.fell_back,
            rendered,
            to,
            about_an_order,
        })
    }

    /// The templates (shipped and the shop's, checked) and the shop's name and link.
    pub fn new(config: &NotifierConfig) -> Result<Speech, String> {
        Ok(Speech {
            templates: config.templates()?,
            shop: orderly_messages::Shop {
                name: config.shop_name.clone(),
                tracking_url: config.tracking_url.clone(),
            },
            default_locale: config.default_locale(),
        })
    }
}

/// Every configured channel, by the name outbox entries carry.
pub struct Channels {
    by_name: HashMap<String, Arc<dyn Channel>>,
    /// Channels configured but unusable (only possible when the config skipped `validate`),
    /// with the reason their messages are dead-lettered with.
    broken: HashMap<String, String>,
}

impl Channels {
    /// The channels `config` turns on; the person channels speak with `speech` (its error:
    /// why they cannot, dead-lettering their messages).
    pub fn build(config: &NotifierConfig, speech: Result<Arc<Speech>, String>) -> Channels {
        let mut channels = Channels {
            by_name: HashMap::new(),
            broken: HashMap::new(),
        };
        let ops = |name: &str| format!("{OPERATIONS_PREFIX}{name}");
        if config.log {
            channels.add(LOG.to_string(), Ok(Arc::new(log::Log)));
        }
        if config.operations.log {
            channels.add(ops(LOG), Ok(Arc::new(log::Log)));
        }
        if let Some(w) = &config.webhook {
            channels.add(WEBHOOK.to_string(), webhook::Webhook::channel(w));
        }
        if let Some(w) = config
            .operations
            .webhook
            .as_ref()
            .or(config.webhook.as_ref())
        {
            channels.add(ops(WEBHOOK), webhook::Webhook::channel(w));
        }
        for (name, medium, section) in [
            (SMS, orderly_messages::Channel::Sms, &config.sms),
            (
                WHATSAPP,
                orderly_messages::Channel::Whatsapp,
                &config.whatsapp,
            ),
        ] {
            if let Some(p) = section {
                let channel = speech
                    .clone()
                    .and_then(|s| provider::Provider::channel(medium, p, s));
                channels.add(name.to_string(), channel);
            }
        }
        if let Some(e) = &config.email {
            let mailer = speech.and_then(|s| Ok((email::Mailer::new(e)?, s)));
            let customers = mailer
                .clone()
                .map(|(m, s)| Arc::new(email::Email::to_customers(m, s)) as Arc<dyn Channel>);
            channels.add(EMAIL.to_string(), customers);
            if !config.operations.email.is_empty() {
                let to = config.operations.email.clone();
                let operations = mailer.map(|(m, s)| {
                    Arc::new(email::Email::to_operations(m, s, to)) as Arc<dyn Channel>
                });
                channels.add(ops(EMAIL), operations);
            }
        }
        channels
    }

    fn add(&mut self, name: String, channel: Result<Arc<dyn Channel>, String>) {
        match channel {
            Ok(c) => {
                self.by_name.insert(name, c);
            }
            Err(e) => {
                self.broken.insert(name, e);
            }
        }
    }

    /// The name an entry's channel goes by here (`operations.<name>` for operations), and to
    /// whom it is.
    pub fn name_of(entry: &OutboxEntry) -> Result<(String, Recipient), String> {
        let name = entry
            .channel
            .as_deref()
            .ok_or("outbox entry has no notification channel")?;
        let notice_for_operations =
            entry.stock_notice().map(|n| n.kind.audience()) == Some(Audience::Operations);
        Ok(match name.strip_prefix(OPERATIONS_PREFIX) {
            Some(_) => (name.to_string(), Recipient::Operations),
            None if notice_for_operations => {
                (format!("{OPERATIONS_PREFIX}{name}"), Recipient::Operations)
            }
            None => (name.to_string(), Recipient::Customer),
        })
    }

    /// The bound on attempts under way on the channel named `name` (see
    /// [`Channel::max_in_flight`]).
    pub fn max_in_flight(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).and_then(|c| c.max_in_flight())
    }

    /// The channel an entry goes out on, and to whom.
    pub fn route(&self, entry: &OutboxEntry) -> Result<(Arc<dyn Channel>, Recipient), String> {
        let (name, recipient) = Channels::name_of(entry)?;
        if let Some(c) = self.by_name.get(&name) {
            return Ok((c.clone(), recipient));
        }
        Err(match self.broken.get(&name) {
            Some(why) => format!("channel '{name}' is unusable: {why}"),
            None => format!("channel '{name}' is not configured"),
        })
    }
}
