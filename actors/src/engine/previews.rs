//! `Engine::preview`: a message rendered for a kind, locale and channel — against a stored
//! order, or the built-in sample — exactly as the channel would send it, without sending it.
//! A shop checks an edited template with it before it goes live (the templates are loaded at
//! start, so an edit is previewed after a restart, which also checks it).

use super::notifier::channels::Speech;
use super::{Engine, EngineError};
use crate::domain::OrderId;
use orderly_messages::{context, sample, segments, Channel, Kind, Locale};
use std::sync::Arc;

/// What to render. Names as in template files: `shipped`, `ro`, `email`.
#[derive(Debug, Clone)]
pub struct PreviewRequest {
    pub kind: String,
    pub locale: String,
    pub channel: String,
    /// The order to render against; absent: the built-in sample.
    pub order_id: Option<OrderId>,
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    pub kind: String,
    /// The locale rendered (`en` when the asked one has no template).
    pub locale: String,
    pub channel: String,
    pub fell_back: bool,
    /// E-mail: the subject; WhatsApp: the approved template's name.
    pub subject: Option<String>,
    /// E-mail: the text part; SMS: the text; WhatsApp: the parameters, one per line.
    pub text: String,
    /// E-mail: the HTML part.
    pub html: Option<String>,
    /// SMS: how many parts the text goes out as, and in which encoding.
    pub sms_segments: Option<(u32, &'static str)>,
}

/// Why a preview cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreviewError {
    /// `field` names nothing there is (`kind`, `locale`, `channel`).
    #[error("{field}: {detail}")]
    Unknown { field: &'static str, detail: String },
    /// A stock message is about no order.
    #[error("order_id: {0} messages are not about an order")]
    NotAboutAnOrder(String),
    /// The template failed on this order's data (a shop's template, say).
    #[error("the template failed: {0}")]
    Template(String),
}

/// The kinds there are templates for, by name (what `kind` may be).
pub fn kinds() -> Vec<&'static str> {
    Kind::all().into_iter().map(Kind::name).collect()
}

impl Engine {
    pub async fn preview(&self, request: PreviewRequest) -> Result<Preview, EngineError> {
        let unknown = |field, detail: String| PreviewError::Unknown { field, detail };
        let kind = Kind::parse(&request.kind).ok_or_else(|| {
            let all: Vec<&str> = Kind::all().iter().map(|k| k.name()).collect();
            unknown(
                "kind",
                format!("'{}' is not one of {}", request.kind, all.join(", ")),
            )
        })?;
        let locale = Locale::parse(&request.locale).ok_or_else(|| {
            unknown(
                "locale",
                format!("'{}' is not one of en, ro, tr, ar", request.locale),
            )
        })?;
        let channel = Channel::parse(&request.channel).ok_or_else(|| {
            unknown(
                "channel",
                format!("'{}' is not one of email, sms, whatsapp", request.channel),
            )
        })?;
        let speech: Arc<Speech> = self.inner.speech.clone();
        let vars = match (request.order_id, kind) {
            (None, _) => sample::vars_for_shop(kind, locale, &speech.shop),
            (Some(id), Kind::Order(k)) => {
                let order = self.order(id).await?;
                context::for_order(k, &order, &speech.shop, locale)
            }
            (Some(_), _) => return Err(PreviewError::NotAboutAnOrder(kind.name().into()).into()),
        };
        let rendered = speech
            .templates
            .render(kind, locale, channel, &vars)
            .map_err(|e| PreviewError::Template(e.to_string()))?;
        let sms_segments = (channel == Channel::Sms).then(|| {
            let s = segments::count(&rendered.text);
            (s.count, s.encoding.as_str())
        });
        Ok(Preview {
            kind: kind.name().to_string(),
            locale: rendered.locale.tag().to_string(),
            channel: channel.as_str().to_string(),
            fell_back: rendered.fell_back,
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            sms_segments,
        })
    }
}
