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
mod tests {
    use super::*;

    // The test vector published with the Standard Webhooks specification and used by every
    // reference library, so passing it means real receivers will accept our signatures.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn secret() -> WebhookSecret {
        WebhookSecret::parse(SECRET).unwrap()
    }

    #[test]
    fn matches_the_standard_webhooks_test_vector() {
        assert_eq!(sign(&secret(), MSG_ID, TIMESTAMP, BODY), SIGNATURE);
        assert!(verify(&secret(), MSG_ID, TIMESTAMP, BODY, SIGNATURE));
    }

    #[test]
    fn parses_prefixed_base64_and_raw_secrets() {
        assert_eq!(secret().as_bytes().len(), 24);
        let raw = WebhookSecret::parse("correct horse battery staple").unwrap();
        assert_eq!(raw.as_bytes(), b"correct horse battery staple");
        assert!(WebhookSecret::parse("").is_err());
        assert!(WebhookSecret::parse("   ").is_err());
        assert!(WebhookSecret::parse("whsec_").is_err());
        assert!(WebhookSecret::parse("whsec_not base64!")
            .unwrap_err()
            .contains("base64"));
    }

    #[test]
    fn debug_does_not_leak_the_key() {
        let shown = format!("{:?}", WebhookSecret::parse("hunter2").unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn rejects_any_tampering() {
        let s = secret();
        assert!(!verify(&s, "msg_other", TIMESTAMP, BODY, SIGNATURE));
        assert!(!verify(&s, MSG_ID, TIMESTAMP + 1, BODY, SIGNATURE));
        assert!(!verify(
            &s,
            MSG_ID,
            TIMESTAMP,
            br#"{"test": 2432232315}"#,
            SIGNATURE
        ));
        let other = WebhookSecret::parse("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap();
        assert!(!verify(&other, MSG_ID, TIMESTAMP, BODY, SIGNATURE));
    }

    #[test]
    fn rejects_malformed_headers() {
        let s = secret();
        let b64 = SIGNATURE.strip_prefix("v1,").unwrap();
        for header in [
            "",
            " ",
            "v1",
            "v1,",
            b64,
            &format!("v2,{b64}"),
            &format!("v1a,{b64}"),
            "v1,!!!not-base64",
        ] {
            assert!(!verify(&s, MSG_ID, TIMESTAMP, BODY, header), "{header:?}");
        }
    }

    #[test]
    fn accepts_a_match_among_several_signatures() {
        let s = secret();
        let header = format!("v1,AAAA v1a,xyz {SIGNATURE}  v1,bm9wZQ==");
        assert!(verify(&s, MSG_ID, TIMESTAMP, BODY, &header));
        assert!(!verify(&s, MSG_ID, TIMESTAMP, BODY, "v1,AAAA v1,bm9wZQ=="));
    }

    #[test]
    fn signature_is_deterministic_and_key_dependent() {
        let a = WebhookSecret::parse("key-a").unwrap();
        let b = WebhookSecret::parse("key-b").unwrap();
        let sig = sign(&a, "msg_1", 1, b"{}");
        assert!(sig.starts_with("v1,"));
        assert_eq!(sig, sign(&a, "msg_1", 1, b"{}"));
        assert_ne!(sig, sign(&b, "msg_1", 1, b"{}"));
        assert!(verify(&a, "msg_1", 1, b"{}", &sig));
        assert!(!verify(&b, "msg_1", 1, b"{}", &sig));
    }
}
