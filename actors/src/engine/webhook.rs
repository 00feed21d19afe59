//! Signing outgoing webhooks the Standard Webhooks way (<https://www.standardwebhooks.com>).
//!
//! A receiver has to be able to tell that a notification really came from us and was not
//! replayed from long ago. Standard Webhooks solves both with three headers: `webhook-id` (the
//! message's stable id, the same on every retry, so receivers can drop duplicates),
//! `webhook-timestamp` (unix seconds of this attempt, so receivers can reject stale replays) and
//! `webhook-signature`, an HMAC-SHA256 over `"{id}.{timestamp}.{body}"`. Because the id and
//! timestamp are inside the signed content, neither can be swapped without breaking the
//! signature.
//!
//! Following the standard rather than inventing a scheme means receivers can use an
//! off-the-shelf library to verify us. Everything here is pure: no I/O, no clock.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::fmt;

type HmacSha256 = Hmac<Sha256>;

/// The prefix Standard Webhooks puts in front of a base64 secret.
const SECRET_PREFIX: &str = "whsec_";

/// The version tag of the only signature scheme we produce (symmetric HMAC-SHA256).
const VERSION: &str = "v1";

/// The shared secret a webhook receiver verifies our signatures with.
///
/// `Debug` never prints the key: configs get logged, secrets must not.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl WebhookSecret {
    /// Parses a secret as written in configuration.
    ///
    /// The Standard Webhooks format is `whsec_` followed by the base64 of the key bytes; that is
    /// what receivers' libraries expect to be given, so it is the recommended form. A string
    /// without the prefix is taken as the key itself (its UTF-8 bytes), for receivers that
    /// configure a plain shared password. Surrounding white space (a trailing newline from an
    /// environment file, say) is ignored in both forms.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let key = match s.strip_prefix(SECRET_PREFIX) {
            Some(b64) => B64
                .decode(b64)
                .map_err(|e| format!("the part after '{SECRET_PREFIX}' must be base64: {e}"))?,
            None => s.as_bytes().to_vec(),
        };
        if key.is_empty() {
            return Err("must not be empty".to_string());
        }
        Ok(WebhookSecret(key))
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn mac(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
        // HMAC takes keys of any length, so this cannot fail; `parse` also rejects empty keys.
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC accepts keys of any length");
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// The value of the `webhook-signature` header for one attempt: `v1,<base64 HMAC-SHA256>` of
/// `"{msg_id}.{timestamp}.{body}"`.
pub fn sign(secret: &WebhookSecret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = secret.mac(msg_id, timestamp, body).finalize().into_bytes();
    format!("{VERSION},{}", B64.encode(tag))
}

/// Checks a `webhook-signature` header against the message.
///
/// The header may carry several space-separated signatures (senders list more than one while
/// rotating secrets); the message is authentic if any `v1` one matches. Comparison is
/// constant-time (`Mac::verify_slice`), so a forger learns nothing from response timing.
/// Checking that `timestamp` is recent is the caller's job: this function has no clock.
pub fn verify(
    secret: &WebhookSecret,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
    signature_header: &str,
) -> bool {
    signature_header
        .split(' ')
        .filter(|s| !s.is_empty())
        .any(|sig| {
            let Some((VERSION, b64)) = sig.split_once(',') else {
                return false;
            };
            let Ok(tag) = B64.decode(b64) else {
                return false;
            };
            secret
                .mac(msg_id, timestamp, body)
                .verify_slice(&tag)
                .is_ok()
        })
}

#[cfg(test)]
mod tests;
