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
