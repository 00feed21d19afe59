//! The `email` channel: a message rendered from the kind's templates in the customer's
//! language, sent over SMTP with `lettre` (rustls for STARTTLS or implicit TLS, a pooled
//! connection, authentication when configured).
//!
//! Every message is multipart (text and HTML), from and replied to as configured, and its
//! `Message-ID` is the notification's stable id (`<msg_…_email@the-from-domain>`), so a
//! redelivery after a crash is recognisably the same message to the server and the reader's
//! client. Messages that are not about an order's progress (back in stock) carry
//! `List-Unsubscribe` when the shop names where to.
//!
//! A 5xx reply is a permanent refusal: the message is dead-lettered at once. A 4xx reply, a
//! dropped connection, a timeout or a server that is down are retried. A template that fails
//! on one order's data is retried too (and then dead-lettered with the reason), so the rest
//! of the queue keeps moving.

use super::{Attempt, Channel, Needs, Outcome, Outgoing, Receipt, Recipient, Speech, Subject};
use crate::domain::stock_alerts::NoticeKind;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use orderly_messages::{context, Channel as Medium, Kind, Locale};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// Plain connection upgraded with STARTTLS, required (port 587 by default).
    Starttls,
    /// TLS from the first byte (port 465 by default).
    Tls,
    /// No encryption (port 25 by default): a relay on the same machine only.
    None,
}

fn default_security() -> Security {
    Security::Starttls
}

fn default_pool_size() -> u32 {
    4
}

fn default_timeout_ms() -> u64 {
    10_000
}

/// `[notifications.email]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// The SMTP server's host name (checked against its certificate).
    pub host: String,
    /// Default: 587 with `starttls`, 465 with `tls`, 25 with `none`.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default = "default_security")]
    pub security: Security,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// `Shop <shop@example.com>` or an address.
    pub from: String,
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Connections kept open to the server at most.
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
    /// Limit on each SMTP command, connecting included.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// A PEM file of root certificates trusted besides the system's (a private relay).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Where `List-Unsubscribe` points on messages that are not about an order's progress
    /// (`mailto:…` or `https://…`); absent: no header.
    #[serde(default)]
    pub unsubscribe: Option<String>,
}

impl EmailConfig {
    pub(crate) fn validate(&self, at: &str) -> Result<(), String> {
        if self.host.trim().is_empty() {
            return Err(format!("{at}.host: must not be empty"));
        }
        check_address(&self.from).map_err(|e| format!("{at}.from: {e}"))?;
        if let Some(r) = &self.reply_to {
            check_address(r).map_err(|e| format!("{at}.reply_to: {e}"))?;
        }
        if self.username.is_some() != self.password.is_some() {
            return Err(format!(
                "{at}: username and password go together (one is missing)"
            ));
        }
        if self.security == Security::None && self.username.is_some() && !self.is_loopback() {
            return Err(format!(
                "{at}.security: 'none' would send the password in clear to '{}'; use starttls or tls",
                self.host
            ));
        }
        if self.pool_size == 0 || self.pool_size > 64 {
            return Err(format!("{at}.pool_size: 1-64, got {}", self.pool_size));
        }
        if self.timeout_ms == 0 {
            return Err(format!("{at}.timeout_ms: must be at least 1"));
        }
        if let Some(u) = &self.unsubscribe {
            if !(u.starts_with("mailto:") || u.starts_with("https://")) {
                return Err(format!(
                    "{at}.unsubscribe: a mailto: or https:// URL, got '{u}'"
                ));
            }
        }
        Mailer::new(self)
            .map(|_| ())
            .map_err(|e| format!("{at}: {e}"))
    }

    fn is_loopback(&self) -> bool {
        matches!(
            self.host.as_str(),
            "localhost" | "127.0.0.1" | "::1" | "[::1]"
        )
    }

    fn port(&self) -> u16 {
        self.port.unwrap_or(match self.security {
            Security::Starttls => 587,
            Security::Tls => 465,
            Security::None => 25,
        })
    }
}

/// Checks an address as config writes it (`Name <a@b>` or `a@b`).
pub(crate) fn check_address(address: &str) -> Result<Mailbox, String> {
    address
        .parse::<Mailbox>()
        .map_err(|e| format!("'{address}' is not an e-mail address: {e}"))
}

/// The SMTP side, shared by the customer and operations channels: one pool of connections,
/// opened on the notifier's own thread at its first message (the pool's housekeeping task
/// belongs to the runtime it starts on).
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<MailerInner>,
}

struct MailerInner {
    builder: lettre::transport::smtp::AsyncSmtpTransportBuilder,
    transport: OnceLock<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    /// The domain of `Message-ID`s: the sender's.
    domain: String,
    unsubscribe: Option<String>,
}

impl Mailer {
    pub fn new(config: &EmailConfig) -> Result<Mailer, String> {
        let from = check_address(&config.from)?;
        let reply_to = config.reply_to.as_deref().map(check_address).transpose()?;
        let host = config.host.trim();
        let tls = match config.security {
            Security::None => Tls::None,
            security => {
                let mut params = TlsParameters::builder(host.to_string());
                if let Some(path) = &config.ca_file {
                    let pem = std::fs::read(path)
                        .map_err(|e| format!("ca_file '{}': {e}", path.display()))?;
                    let cert = Certificate::from_pem(&pem)
                        .map_err(|e| format!("ca_file '{}': {e}", path.display()))?;
                    params = params.add_root_certificate(cert);
                }
                let params = params.build_rustls().map_err(|e| format!("TLS: {e}"))?;
                match security {
                    Security::Tls => Tls::Wrapper(params),
                    _ => Tls::Required(params),
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(config.port())
            .tls(tls)
            .timeout(Some(Duration::from_millis(config.timeout_ms)))
            .pool_config(PoolConfig::new().max_size(config.pool_size));
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        let domain = from.email.domain().to_string();
        Ok(Mailer {
            inner: Arc::new(MailerInner {
                builder,
                transport: OnceLock::new(),
                from,
                reply_to,
                domain,
                unsubscribe: config.unsubscribe.clone(),
            }),
        })
    }

    fn transport(&self) -> AsyncSmtpTransport<Tokio1Executor> {
        self.inner
            .transport
            .get_or_init(|| self.inner.builder.clone().build())
            .clone()
    }
}

/// The channel: to the order's customer (or the back-in-stock subscriber), or to the
/// operations recipients.
pub struct Email {
    mailer: Mailer,
    speech: Arc<Speech>,
    /// `Some`: operations addresses, every message goes to them.
    operations: Option<Vec<Mailbox>>,
}

impl Email {
    pub fn to_customers(mailer: Mailer, speech: Arc<Speech>) -> Email {
        Email {
            mailer,
            speech,
            operations: None,
        }
    }

    pub fn to_operations(mailer: Mailer, speech: Arc<Speech>, to: Vec<String>) -> Email {
        // Checked by `validate`; an address that still does not parse is left out.
        let to = to.iter().filter_map(|a| check_address(a).ok()).collect();
        Email {
            mailer,
            speech,
            operations: Some(to),
        }
    }

    /// The message for `m`, or why there is none.
    fn compose(&self, m: &Outgoing) -> Result<(Message, Receipt), Outcome> {
        let permanent = |why: String| Outcome::Permanent(why);
        let speech = &self.speech;
        let (kind, vars, to, locale, about_an_order) = match &m.subject {
            Subject::Order { order: None, .. } => {
                return Err(permanent("order not found".to_string()))
            }
            Subject::Order {
                kind,
                order: Some(order),
            } => {
                let locale = match m.recipient {
                    Recipient::Customer => {
                        Locale::resolve(order.customer.locale.as_deref(), speech.default_locale)
                    }
                    Recipient::Operations => Locale::resolve(None, speech.default_locale),
                };
                let vars = context::for_order(*kind, order, &speech.shop, locale.locale);
                (
                    Kind::Order(*kind),
                    vars,
                    vec![order.customer.email.clone()],
                    locale,
                    true,
                )
            }
            Subject::Notice(notice) => {
                let locale = Locale::resolve(None, speech.default_locale);
                let vars = context::for_notice(notice, &speech.shop, locale.locale);
                match &notice.kind {
                    NoticeKind::LowStock { .. } => (Kind::LowStock, vars, vec![], locale, true),
                    NoticeKind::BackInStock { contact, .. } => (
                        Kind::BackInStock,
                        vars,
                        vec![contact.clone()],
                        locale,
                        false,
                    ),
                }
            }
        };
        let to: Vec<Mailbox> = match &self.operations {
            Some(ops) => ops.clone(),
            None if m.recipient == Recipient::Operations => {
                return Err(permanent("no operations addresses".to_string()))
            }
            None => to
                .iter()
                .map(|a| check_address(a))
                .collect::<Result<_, _>>()
                .map_err(permanent)?,
        };
        if to.is_empty() {
            return Err(permanent("no recipient address".to_string()));
        }
        let rendered = speech
            .templates
            .render(kind, locale.locale, Medium::Email, &vars)
            .map_err(|e| Outcome::Failed(format!("template {e}")))?;
        let inner = &self.mailer.inner;
        let mut b = Message::builder()
            .from(inner.from.clone())
            .subject(rendered.subject.clone().unwrap_or_default())
            .message_id(Some(format!("<{}@{}>", m.message_id, inner.domain)))
            .date(SystemTime::from(m.now))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Content-Language"),
                rendered.locale.tag().to_string(),
            ));
        let addresses: Vec<String> = to.iter().map(|m| m.email.to_string()).collect();
        for mailbox in to {
            b = b.to(mailbox);
        }
        if let Some(r) = &inner.reply_to {
            b = b.reply_to(r.clone());
        }
        if let (false, Some(u)) = (about_an_order, &inner.unsubscribe) {
            b = b.raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{u}>"),
            ));
        }
        let message = b
            .multipart(MultiPart::alternative_plain_html(
                rendered.text,
                rendered.html.unwrap_or_default(),
            ))
            .map_err(|e| permanent(format!("message: {e}")))?;
        Ok((
            message,
            Receipt {
                provider_id: None,
                fell_back: locale.fell_back || rendered.fell_back,
                segments: None,
                to: Some(addresses.join(", ")),
                locale: Some(rendered.locale.tag().to_string()),
            },
        ))
    }
}

impl Channel for Email {
    fn needs(&self) -> Needs {
        Needs::Order
    }

    fn send(&self, m: Outgoing) -> Attempt {
        let (message, receipt) = match self.compose(&m) {
            Ok(composed) => composed,
            Err(outcome) => return Attempt::Done(outcome),
        };
        let transport = self.mailer.transport();
        Attempt::Pending(Box::pin(async move {
            match transport.send(message).await {
                Ok(response) => Outcome::Delivered(Receipt {
                    provider_id: Some(response.message().collect::<Vec<_>>().join(" "))
                        .filter(|s| !s.is_empty()),
                    ..receipt
                }),
                Err(e) if e.is_permanent() => Outcome::Permanent(format!("SMTP: {e}")),
                Err(e) => Outcome::Failed(format!("SMTP: {e}")),
            }
        }))
    }
}
