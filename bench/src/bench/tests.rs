use super::*;

#[test]
fn server_config_overrides_bind_data_dir_and_log_level_only() {
    let dir = std::env::temp_dir().join(format!(
        "orderly-bench-test-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.toml");
    let base =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../config.toml"))
            .unwrap();
    // What `start_server` writes for the service.
    let text = orderly_testkit::service::config_with(
        &base,
        "127.0.0.1:12345",
        &dir.join("data"),
        Some("warn"),
    )
    .unwrap();
    std::fs::write(&path, &text).unwrap();
    let c = Config::load(&path).unwrap();
    assert_eq!(c.server.bind, "127.0.0.1:12345");
    assert_eq!(c.storage.data_dir, dir.join("data"));
    assert_eq!(c.log.level, "warn");
    assert_eq!(c.carriers.len(), 2);
    assert!(!c.auth.carriers.is_empty());
    let keys = Keys::from_config(&c).unwrap();
    assert_eq!(keys.carrier("postnl"), "Bearer dev-carrier-postnl-0001");
    assert_eq!(keys.carrier("nobody"), keys.admin);
    std::fs::remove_dir_all(&dir).unwrap();
}
