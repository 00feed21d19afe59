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

use super::{Attempt, Channel, Needs, Outcome, Outgoing, Receipt, Recipient, Speech};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use lettre::transport::smtp::Error as SmtpError;
use lettre::Message;
use orderly_messages::Channel as Medium;
use rustls::pki_types::ServerName;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::task::{Context, Poll};
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
    /// Connections to the server at most (messages sent at once).
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

/// The SMTP side, shared by the customer and operations channels: connections of our own
/// (lettre's transport leaves Nagle on, and a message then waits for the server's delayed ACK
/// before its closing `.`: 40 ms each), lettre's SMTP session over them, and the idle ones
/// kept for the next message, at most `pool_size`.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<MailerInner>,
}

struct MailerInner {
    host: String,
    port: u16,
    /// STARTTLS: the parameters to upgrade with.
    starttls: Option<TlsParameters>,
    /// Implicit TLS: the client configuration to open with.
    implicit: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    credentials: Option<Credentials>,
    hello: ClientId,
    timeout: Duration,
    /// Connections at most, and so sends at once (the notifier holds the rest back).
    pool_size: usize,
    idle: Mutex<Vec<AsyncSmtpConnection>>,
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
        let host = config.host.trim().to_string();
        let extra_root = match &config.ca_file {
            Some(path) => Some(
                std::fs::read(path).map_err(|e| format!("ca_file '{}': {e}", path.display()))?,
            ),
            None => None,
        };
        let (starttls, implicit) = match config.security {
            Security::None => (None, None),
            Security::Starttls => {
                let mut params = TlsParameters::builder(host.clone());
                if let Some(pem) = &extra_root {
                    let cert = Certificate::from_pem(pem).map_err(|e| format!("ca_file: {e}"))?;
                    params = params.add_root_certificate(cert);
                }
                let params = params.build_rustls().map_err(|e| format!("TLS: {e}"))?;
                (Some(params), None)
            }
            Security::Tls => {
                let connector = tls_connector(extra_root.as_deref())?;
                let name = ServerName::try_from(host.clone())
                    .map_err(|e| format!("host '{host}' is not a TLS server name: {e}"))?;
                (None, Some((connector, name)))
            }
        };
        let credentials = match (&config.username, &config.password) {
            (Some(user), Some(password)) => Some(Credentials::new(user.clone(), password.clone())),
            _ => None,
        };
        let domain = from.email.domain().to_string();
        Ok(Mailer {
            inner: Arc::new(MailerInner {
                port: config.port(),
                starttls,
                implicit,
                credentials,
                hello: ClientId::Domain(domain.clone()),
                timeout: Duration::from_millis(config.timeout_ms),
                pool_size: config.pool_size as usize,
                idle: Mutex::new(Vec::new()),
                host,
                from,
                reply_to,
                domain,
                unsubscribe: config.unsubscribe.clone(),
            }),
        })
    }

    /// Sends `message`: on an idle connection if there is one (once more on a fresh one if
    /// that fails short of an answer: the server may have closed it meanwhile), else on a new
    /// one; the connection is kept afterwards if it is sound and the pool has room.
    async fn send(&self, message: Message) -> Result<Response, MailError> {
        let inner = &self.inner;
        let envelope = message.envelope().clone();
        let bytes = message.formatted();
        let idle = inner.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let (mut conn, reused) = match idle {
            Some(conn) => (conn, true),
            None => (inner.connect().await?, false),
        };
        let mut sent = inner.within(conn.send(&envelope, &bytes)).await;
        if reused && sent.as_ref().is_err_and(|e| !e.is_response()) {
            conn.abort().await;
            conn = inner.connect().await?;
            sent = inner.within(conn.send(&envelope, &bytes)).await;
        }
        if sent.is_ok() && !conn.has_broken() {
            let mut idle = inner.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < inner.pool_size {
                idle.push(conn);
                return sent;
            }
        }
        conn.abort().await;
        sent
    }
}

impl MailerInner {
    /// `step`, or a timeout error once `timeout` passed.
    async fn within<T, E: Into<MailError>>(
        &self,
        step: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, MailError> {
        match actix_rt::time::timeout(self.timeout, step).await {
            Ok(done) => done.map_err(Into::into),
            Err(_) => Err(network_error("timed out")),
        }
    }

    /// A new session: TCP (no Nagle), TLS from the first byte or after STARTTLS, EHLO, AUTH.
    async fn connect(&self) -> Result<AsyncSmtpConnection, MailError> {
        let connecting = tokio::net::TcpStream::connect((self.host.as_str(), self.port));
        let tcp = match actix_rt::time::timeout(self.timeout, connecting).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => return Err(network_error(&e.to_string())),
            Err(_) => return Err(network_error("connecting timed out")),
        };
        tcp.set_nodelay(true)
            .map_err(|e| network_error(&e.to_string()))?;
        let stream: Box<dyn AsyncTokioStream> = match &self.implicit {
            Some((connector, name)) => {
                let tls = self
                    .within(async {
                        connector
                            .connect(name.clone(), tcp)
                            .await
                            .map_err(|e| network_error(&format!("TLS: {e}")))
                    })
                    .await?;
                Box::new(TlsTcp(tls))
            }
            None => Box::new(tcp),
        };
        let mut conn = self
            .within(AsyncSmtpConnection::connect_with_transport(
                stream,
                &self.hello,
            ))
            .await?;
        if let Some(params) = &self.starttls {
            self.within(conn.starttls(params.clone(), &self.hello))
                .await?;
        }
        if let Some(credentials) = &self.credentials {
            self.within(conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials))
                .await?;
        }
        Ok(conn)
    }
}

/// Why a message did not go out: the server's answer or lettre's, or the connection.
#[derive(Debug)]
enum MailError {
    Smtp(SmtpError),
    Network(String),
}

impl MailError {
    /// A 5xx answer: retrying cannot help.
    fn is_permanent(&self) -> bool {
        matches!(self, MailError::Smtp(e) if e.is_permanent())
    }

    /// The server answered (as opposed to the connection failing).
    fn is_response(&self) -> bool {
        matches!(self, MailError::Smtp(e) if e.is_response())
    }
}

impl std::fmt::Display for MailError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MailError::Smtp(e) => e.fmt(f),
            MailError::Network(why) => f.write_str(why),
        }
    }
}

impl From<SmtpError> for MailError {
    fn from(e: SmtpError) -> Self {
        MailError::Smtp(e)
    }
}

fn network_error(why: &str) -> MailError {
    MailError::Network(why.to_string())
}

/// A TLS client for implicit TLS: the system's roots and `extra` (PEM), if given.
fn tls_connector(extra: Option<&[u8]>) -> Result<tokio_rustls::TlsConnector, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(pem) = extra {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("ca_file: {e}"))?;
            roots.add(cert).map_err(|e| format!("ca_file: {e}"))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// A TLS stream over TCP, as lettre's session takes a stream.
#[derive(Debug)]
struct TlsTcp(tokio_rustls::client::TlsStream<tokio::net::TcpStream>);

impl tokio::io::AsyncRead for TlsTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for TlsTcp {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsTcp {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
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
        let spoken = self.speech.speak(m, Medium::Email)?;
        let to: Vec<Mailbox> = match (&self.operations, m.recipient, &spoken.to) {
            (Some(ops), _, _) => ops.clone(),
            (None, Recipient::Operations, _) => {
                return Err(permanent("no operations addresses".to_string()))
            }
            (None, Recipient::Customer, Some(address)) => {
                vec![check_address(address).map_err(permanent)?]
            }
            (None, Recipient::Customer, None) => Vec::new(),
        };
        if to.is_empty() {
            return Err(permanent("no recipient address".to_string()));
        }
        let rendered = spoken.rendered;
        let about_an_order = spoken.about_an_order;
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
                fell_back: spoken.fell_back,
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

    fn max_in_flight(&self) -> Option<usize> {
        Some(self.mailer.inner.pool_size)
    }

    fn send(&self, m: Outgoing) -> Attempt {
        let (message, receipt) = match self.compose(&m) {
            Ok(composed) => composed,
            Err(outcome) => return Attempt::Done(outcome),
        };
        let mailer = self.mailer.clone();
        Attempt::Pending(Box::pin(async move {
            match mailer.send(message).await {
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
