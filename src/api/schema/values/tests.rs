use crate::api::schema::patterns;

#[test]
fn schema_patterns_are_the_shared_ones() {
    let src = include_str!("../values.rs");
    for p in [
        patterns::REQUIRED_TEXT,
        patterns::TEXT,
        patterns::EMAIL,
        patterns::SKU,
        patterns::COUNTRY,
    ] {
        assert!(src.contains(&format!("pattern = r\"{p}\"")), "{p}");
    }
}
