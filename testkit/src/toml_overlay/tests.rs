use super::merge_toml;

#[test]
fn merge_toml_replaces_adds_and_appends() {
    let base = "top = 1\n[server]\nbind = \"a\"\nworkers = 0\n[[carriers]]\nid = \"x\"\nservices = [\n  { code = \"s\", cutoff = \"17:00\" },\n]\n[notifications]\nlog = true\n# [notifications.webhook]\n";
    let extra = "[server]\nbind = \"b\"\n[notifications]\nmax_attempts = 2\n[notifications.webhook]\nurl = \"u\"\n";
    let merged = merge_toml(base, extra);
    assert!(
        merged.contains("bind = \"b\"") && !merged.contains("bind = \"a\""),
        "{merged}"
    );
    assert!(
        merged.contains("workers = 0") && merged.contains("{ code = \"s\", cutoff = \"17:00\" }"),
        "{merged}"
    );
    assert!(
        merged.contains("[notifications]\nmax_attempts = 2\nlog = true"),
        "{merged}"
    );
    assert!(
        merged
            .trim_end()
            .ends_with("[notifications.webhook]\nurl = \"u\""),
        "{merged}"
    );
    assert_eq!(merged.matches("[notifications]").count(), 1, "{merged}");
}
