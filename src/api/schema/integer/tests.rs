#[derive(serde::Deserialize)]
struct T {
    #[serde(deserialize_with = "super::u32")]
    a: u32,
    #[serde(deserialize_with = "super::i64")]
    b: i64,
}

fn parse(s: &str) -> Result<(u32, i64), String> {
    serde_json::from_str::<T>(s)
        .map(|t| (t.a, t.b))
        .map_err(|e| e.to_string())
}

#[test]
fn integral_numbers_in_any_spelling() {
    assert_eq!(parse(r#"{"a": 5, "b": -7}"#), Ok((5, -7)));
    assert_eq!(parse(r#"{"a": 5.0, "b": -7.0}"#), Ok((5, -7)));
    assert_eq!(
        parse(r#"{"a": 4294967295, "b": 9223372036854775807}"#),
        Ok((u32::MAX, i64::MAX))
    );
    assert!(parse(r#"{"a": 5.5, "b": 1}"#).is_err());
    assert!(parse(r#"{"a": -1, "b": 1}"#).is_err());
    assert!(parse(r#"{"a": 4294967296, "b": 1}"#).is_err());
    assert!(parse(r#"{"a": "5", "b": 1}"#).is_err());
    assert!(parse(r#"{"a": 1e300, "b": 1}"#).is_err());
}
