//! The `sms` and `whatsapp` channels: a message rendered from the kind's templates, posted to
//! a messaging provider's HTTP API.
//!
//! One configurable shape covers the common APIs: a URL, a method, an `Authorization` (basic,
//! bearer or a raw header value), a body (form fields or JSON) whose values may name `{to}`,
//! `{from}`, `{text}`, `{message_id}` and `{locale}`, the statuses that count as accepted, and
//! where the provider's message id is in its answer (a JSON pointer). Presets fill that in for
//! a Twilio-style SMS API (`twilio`) and the WhatsApp Cloud API's template messages
//! (`whatsapp_cloud`, whose body is built here: the approved template's name, its language
//! and its parameters), so a shop gives credentials only.
//!
//! An accepted answer without the id it should carry, a 429, a 5xx, a timeout or a dropped
//! connection are retried; any other 4xx is the provider refusing this message for good (a
//! number it cannot reach, say): dead-lettered at once. SMS texts are counted in segments
//! ([`orderly_messages::segments`]), kept on the receipt.

use super::{Attempt, Channel, Needs, Outcome, Outgoing, Receipt, Recipient, Speech};
use crate::domain::phone::is_e164;
use crate::engine::outbound::http_client;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use orderly_messages::{segments, Channel as Medium};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The shapes shipped ready-made.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// Twilio's Messages API: form fields `To`, `From`, `Body`, basic auth with the account
    /// SID and auth token, the id in `sid`.
    Twilio,
    /// Meta's WhatsApp Cloud API: a JSON template message, a bearer token, the id in
    /// `messages[0].id`.
    WhatsappCloud,
}

/// How the body is encoded.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Form,
    Json,
}

fn default_timeout_ms() -> u64 {
    10_000
}

/// `[notifications.sms]` or `[notifications.whatsapp]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    #[serde(default)]
    pub preset: Option<Preset>,
    /// Where messages are posted (`twilio`: derived from `username` when absent).
    #[serde(default)]
    pub url: Option<String>,
    /// `POST` (default) or `PUT`.
    #[serde(default)]
    pub method: Option<String>,
    /// Basic authentication (Twilio: the account SID and auth token).
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// Bearer authentication (WhatsApp Cloud: the access token).
    #[serde(default)]
    pub token: Option<String>,
    /// The sender: a number in E.164, or an id the provider knows.
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub format: Option<Format>,
    /// The body's fields; values may name `{to}`, `{from}`, `{text}`, `{message_id}` and
    /// `{locale}` (not for `whatsapp_cloud`, whose body is fixed).
    #[serde(default)]
    pub fields: Option<BTreeMap<String, String>>,
    /// Statuses that mean accepted (default: any 2xx).
    #[serde(default)]
    pub accepted: Option<Vec<u16>>,
    /// Where the provider's message id is in a JSON answer (`/sid`); absent: not kept.
    #[serde(default)]
    pub id_pointer: Option<String>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Requests under way at once at most (the rest wait their turn).
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: u32,
}

fn default_max_in_flight() -> u32 {
    16
}

impl Default for ProviderConfig {
    fn default() -> Self {
        ProviderConfig {
            preset: None,
            url: None,
            method: None,
            username: None,
            password: None,
            token: None,
            from: None,
            format: None,
            fields: None,
            accepted: None,
            id_pointer: None,
            timeout_ms: default_timeout_ms(),
            max_in_flight: default_max_in_flight(),
        }
    }
}

/// A provider configuration with its preset applied, ready to post.
#[derive(Debug, Clone)]
struct Resolved {
    url: String,
    method: awc::http::Method,
    authorization: Option<String>,
    from: String,
    body: Body,
    accepted: Option<Vec<u16>>,
    id_pointer: Option<String>,
    timeout: Duration,
    max_in_flight: usize,
}

#[derive(Debug, Clone)]
enum Body {
    Fields(Format, BTreeMap<String, String>),
    WhatsappTemplate,
}

impl ProviderConfig {
    /// Checks the section; `at` names it in messages.
    pub(crate) fn validate(&self, at: &str) -> Result<(), String> {
        self.resolve(at).map(|_| ())
    }

    fn resolve(&self, at: &str) -> Result<Resolved, String> {
        let url = match (&self.url, self.preset, &self.username) {
            (Some(u), _, _) => u.trim().to_string(),
            (None, Some(Preset::Twilio), Some(sid)) => {
                format!("https://api.twilio.com/2010-04-01/Accounts/{sid}/Messages.json")
            }
            _ => return Err(format!("{at}.url: missing")),
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("{at}.url: must be an http(s) URL, got '{url}'"));
        }
        match url.parse::<awc::http::Uri>() {
            Ok(uri) if uri.host().is_some_and(|h| !h.is_empty()) => {}
            _ => return Err(format!("{at}.url: '{url}' is not a valid URL")),
        }
        let method = match self.method.as_deref().unwrap_or("POST") {
            "POST" => awc::http::Method::POST,
            "PUT" => awc::http::Method::PUT,
            other => return Err(format!("{at}.method: POST or PUT, got '{other}'")),
        };
        let authorization = match (&self.username, &self.password, &self.token) {
            (Some(u), Some(p), None) => Some(format!("Basic {}", B64.encode(format!("{u}:{p}")))),
            (None, None, Some(t)) => Some(format!("Bearer {}", t.trim())),
            (None, None, None) => None,
            (Some(_), None, _) | (None, Some(_), _) => {
                return Err(format!("{at}: username and password go together"))
            }
            (_, _, Some(_)) => {
                return Err(format!(
                    "{at}: either username and password, or token, not both"
                ))
            }
        };
        let (preset_body, preset_id) = match self.preset {
            Some(Preset::Twilio) => {
                if authorization.is_none() {
                    return Err(format!("{at}: the twilio preset needs username (the account SID) and password (the auth token)"));
                }
                let fields = [("To", "{to}"), ("From", "{from}"), ("Body", "{text}")]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                (Some(Body::Fields(Format::Form, fields)), Some("/sid"))
            }
            Some(Preset::WhatsappCloud) => {
                if self.token.is_none() {
                    return Err(format!(
                        "{at}: the whatsapp_cloud preset needs token (the access token)"
                    ));
                }
                if self.fields.is_some() || self.format.is_some() {
                    return Err(format!(
                        "{at}.fields: the whatsapp_cloud preset's body is fixed (a template message)"
                    ));
                }
                (Some(Body::WhatsappTemplate), Some("/messages/0/id"))
            }
            None => (None, None),
        };
        let body = match (&self.fields, preset_body) {
            (Some(fields), Some(Body::Fields(..)) | None) => {
                if fields.is_empty() {
                    return Err(format!("{at}.fields: must not be empty"));
                }
                Body::Fields(
                    self.format.unwrap_or(format_or_json(self.preset)),
                    fields.clone(),
                )
            }
            (_, Some(body)) => body,
            (None, None) => {
                return Err(format!(
                    "{at}: give a preset (twilio, whatsapp_cloud) or the body's fields"
                ))
            }
        };
        let from = self.from.clone().unwrap_or_default();
        if let Body::Fields(_, fields) = &body {
            if fields.values().any(|v| v.contains("{from}")) && from.trim().is_empty() {
                return Err(format!("{at}.from: missing (the body names {{from}})"));
            }
            for v in fields.values() {
                check_placeholders(v).map_err(|e| format!("{at}.fields: {e}"))?;
            }
        }
        if let Some(accepted) = &self.accepted {
            if accepted.is_empty() || accepted.iter().any(|s| !(100..=599).contains(s)) {
                return Err(format!("{at}.accepted: HTTP statuses, 100-599"));
            }
        }
        let id_pointer = self.id_pointer.clone().or(preset_id.map(String::from));
        if let Some(p) = &id_pointer {
            if !p.starts_with('/') {
                return Err(format!(
                    "{at}.id_pointer: a JSON pointer starting with '/', got '{p}'"
                ));
            }
        }
        if self.timeout_ms == 0 {
            return Err(format!("{at}.timeout_ms: must be at least 1"));
        }
        if self.max_in_flight == 0 || self.max_in_flight > 1024 {
            return Err(format!(
                "{at}.max_in_flight: 1-1024, got {}",
                self.max_in_flight
            ));
        }
        Ok(Resolved {
            url,
            method,
            authorization,
            from,
            body,
            accepted: self.accepted.clone(),
            id_pointer,
            timeout: Duration::from_millis(self.timeout_ms),
            max_in_flight: self.max_in_flight as usize,
        })
    }
}

fn format_or_json(preset: Option<Preset>) -> Format {
    match preset {
        Some(Preset::Twilio) => Format::Form,
        _ => Format::Json,
    }
}

const PLACEHOLDERS: [&str; 5] = ["to", "from", "text", "message_id", "locale"];

/// Every `{name}` in `value` is one of ours.
fn check_placeholders(value: &str) -> Result<(), String> {
    let mut rest = value;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("'{value}': an unclosed '{{'"))?;
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "'{value}': unknown placeholder {{{name}}} (there are: {})",
                PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
            ));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

/// The channel: SMS or WhatsApp, to the order's customer or a back-in-stock subscriber.
pub struct Provider {
    medium: Medium,
    resolved: Resolved,
    speech: Arc<Speech>,
}

impl Provider {
    /// The channel for one provider section, for `medium` (`Sms` or `Whatsapp`).
    pub fn channel(
        medium: Medium,
        config: &ProviderConfig,
        speech: Arc<Speech>,
    ) -> Result<Arc<dyn Channel>, String> {
        Ok(Arc::new(Provider {
            medium,
            resolved: config.resolve(medium.as_str())?,
            speech,
        }))
    }

    /// The request for `m`, or why there is none.
    fn compose(&self, m: &Outgoing) -> Result<(Vec<u8>, &'static str, Receipt), Outcome> {
        let permanent = |why: String| Outcome::Permanent(why);
        let speech = &self.speech;
        if m.recipient == Recipient::Operations {
            return Err(permanent(format!(
                "{} has no operations recipients",
                self.medium.as_str()
            )));
        }
        let spoken = speech.speak(m, self.medium)?;
        let to = spoken
            .to
            .filter(|t| is_e164(t))
            .ok_or_else(|| permanent("no phone number in E.164".to_string()))?;
        let rendered = spoken.rendered;
        let mut receipt = Receipt {
            provider_id: None,
            fell_back: spoken.fell_back,
            segments: None,
            to: Some(to.clone()),
            locale: Some(rendered.locale.tag().to_string()),
        };
        if self.medium == Medium::Sms {
            receipt.segments = Some(segments::count(&rendered.text).count);
        }
        let r = &self.resolved;
        let (body, content_type) = match &r.body {
            Body::WhatsappTemplate => {
                let parameters: Vec<serde_json::Value> = rendered
                    .text
                    .lines()
                    .map(|p| serde_json::json!({"type": "text", "text": p}))
                    .collect();
                let body = serde_json::json!({
                    "messaging_product": "whatsapp",
                    "recipient_type": "individual",
                    "to": to.trim_start_matches('+'),
                    "type": "template",
                    "template": {
                        "name": rendered.subject.unwrap_or_default(),
                        "language": {"code": rendered.locale.tag()},
                        "components": [{"type": "body", "parameters": parameters}],
                    },
                    "biz_opaque_callback_data": m.message_id,
                });
                (body.to_string().into_bytes(), "application/json")
            }
            Body::Fields(format, fields) => {
                let fill = |v: &String| {
                    v.replace("{to}", &to)
                        .replace("{from}", &r.from)
                        .replace("{text}", &rendered.text)
                        .replace("{message_id}", &m.message_id)
                        .replace("{locale}", rendered.locale.tag())
                };
                let filled: BTreeMap<&String, String> =
                    fields.iter().map(|(k, v)| (k, fill(v))).collect();
                match format {
                    Format::Json => (
                        serde_json::to_vec(&filled).unwrap_or_default(),
                        "application/json",
                    ),
                    Format::Form => (
                        form_urlencoded(&filled).into_bytes(),
                        "application/x-www-form-urlencoded",
                    ),
                }
            }
        };
        Ok((body, content_type, receipt))
    }
}

/// `application/x-www-form-urlencoded`, as WHATWG writes it.
fn form_urlencoded(fields: &BTreeMap<&String, String>) -> String {
    fn enc(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    }
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Channel for Provider {
    fn needs(&self) -> Needs {
        Needs::Order
    }

    fn max_in_flight(&self) -> Option<usize> {
        Some(self.resolved.max_in_flight)
    }

    fn send(&self, m: Outgoing) -> Attempt {
        let (body, content_type, receipt) = match self.compose(&m) {
            Ok(composed) => composed,
            Err(outcome) => return Attempt::Done(outcome),
        };
        let r = self.resolved.clone();
        Attempt::Pending(Box::pin(async move {
            let mut req = http_client()
                .request(r.method.clone(), r.url.as_str())
                .timeout(r.timeout)
                .insert_header(("content-type", content_type))
                .insert_header(("user-agent", concat!("orderly/", env!("CARGO_PKG_VERSION"))))
                .insert_header(("idempotency-key", m.message_id.clone()));
            if let Some(auth) = &r.authorization {
                req = req.insert_header(("authorization", auth.clone()));
            }
            let mut res = match req.send_body(body).await {
                Ok(res) => res,
                Err(e) => return Outcome::Failed(e.to_string()),
            };
            let status = res.status().as_u16();
            let answer = res.body().limit(64 * 1024).await.unwrap_or_default();
            let accepted = match &r.accepted {
                Some(list) => list.contains(&status),
                None => (200..300).contains(&status),
            };
            if !accepted {
                let said = String::from_utf8_lossy(&answer[..answer.len().min(200)]).into_owned();
                let why = format!("HTTP {status}: {said}");
                return if status == 429 || status >= 500 || status == 408 {
                    Outcome::Failed(why)
                } else {
                    Outcome::Permanent(why)
                };
            }
            let Some(pointer) = &r.id_pointer else {
                return Outcome::Delivered(receipt);
            };
            let id = serde_json::from_slice::<serde_json::Value>(&answer)
                .ok()
                .and_then(|v| {
                    v.pointer(pointer).and_then(|id| match id {
                        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
                        serde_json::Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    })
                });
            match id {
                Some(id) => Outcome::Delivered(Receipt {
                    provider_id: Some(id),
                    ..receipt
                }),
                None => Outcome::Failed(format!(
                    "HTTP {status} without a message id at {pointer}: {}",
                    String::from_utf8_lossy(&answer[..answer.len().min(200)])
                )),
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding() {
        let (to, body) = ("To".to_string(), "Body".to_string());
        let fields: BTreeMap<&String, String> = [
            (&to, "+31612345678".to_string()),
            (&body, "Comanda ta: 12,50 € & más".to_string()),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            form_urlencoded(&fields),
            "Body=Comanda+ta%3A+12%2C50+%E2%82%AC+%26+m%C3%A1s&To=%2B31612345678"
        );
    }

    #[test]
    fn presets_and_custom_shapes_resolve_or_say_why() {
        let twilio = ProviderConfig {
            preset: Some(Preset::Twilio),
            username: Some("AC123".into()),
            password: Some("secret".into()),
            from: Some("+15005550006".into()),
            ..Default::default()
        };
        let r = twilio.resolve("sms").unwrap();
        assert_eq!(
            r.url,
            "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json"
        );
        assert_eq!(r.authorization.as_deref(), Some("Basic QUMxMjM6c2VjcmV0"));
        assert_eq!(r.id_pointer.as_deref(), Some("/sid"));
        // (config, what the error names)
        let cases = [
            (
                ProviderConfig {
                    password: None,
                    ..twilio.clone()
                },
                "sms: username and password go together",
            ),
            (
                ProviderConfig {
                    from: None,
                    ..twilio.clone()
                },
                "sms.from",
            ),
            (
                ProviderConfig {
                    preset: Some(Preset::WhatsappCloud),
                    url: Some("https://graph.facebook.com/v21.0/123/messages".into()),
                    ..Default::default()
                },
                "needs token",
            ),
            (
                ProviderConfig {
                    url: Some("ftp://x".into()),
                    fields: Some([("a".to_string(), "{text}".to_string())].into()),
                    ..Default::default()
                },
                "sms.url",
            ),
            (
                ProviderConfig {
                    url: Some("http://x.example/send".into()),
                    fields: Some([("a".to_string(), "{txt}".to_string())].into()),
                    ..Default::default()
                },
                "unknown placeholder {txt}",
            ),
            (
                ProviderConfig {
                    url: Some("http://x.example/send".into()),
                    ..Default::default()
                },
                "give a preset",
            ),
            (
                ProviderConfig {
                    url: Some("http://x.example/send".into()),
                    fields: Some([("a".to_string(), "{text}".to_string())].into()),
                    id_pointer: Some("sid".into()),
                    ..Default::default()
                },
                "sms.id_pointer",
            ),
        ];
        for (config, says) in cases {
            let e = config.resolve("sms").unwrap_err();
            assert!(e.contains(says), "{e} should say {says}");
        }
    }
}
