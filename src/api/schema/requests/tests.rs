use crate::api::schema::patterns;

#[test]
fn schema_patterns_are_the_shared_ones() {
    let src = include_str!("../requests.rs");
    for p in [
        patterns::REQUIRED_TEXT,
        patterns::TEXT,
        patterns::SKU,
        patterns::WAREHOUSE,
        patterns::TOKEN,
        patterns::IDEMPOTENCY_KEY,
    ] {
        assert!(src.contains(&format!("pattern = r\"{p}\"")), "{p}");
    }
}
