use super::*;

#[test]
fn seeded_orders_are_confirmed_with_stock_reserved_and_survive_a_reopen() {
    let dir = std::env::temp_dir().join(format!(
        "orderly-seed-test-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let config =
        Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../config.toml")).unwrap();
    let s = seed(&config, &dir, 40, 16, 10).unwrap();
    assert_eq!(s.orders, 40);
    assert_eq!(s.ids.len(), 10);
    let last = s.last.expect("a last order");

    // Opened again as the service opens it: everything is there, confirmed and reserved.
    let mut config = config.clone();
    config.storage.data_dir = dir.clone();
    let system = actix_rt::System::new();
    system.block_on(async {
        let engine = orderly::start_engine(&config).unwrap();
        for id in s.ids.iter().chain([&last]) {
            let o = engine.order(*id).await.expect("seeded order");
            assert_eq!(o.status, Status::Confirmed);
            assert_eq!(o.stock, StockState::Reserved);
        }
        let levels = engine.stock(SEED_SKU.into()).await.unwrap();
        let (_, level) = levels
            .iter()
            .find(|(w, _)| *w == seed_warehouse(&config))
            .expect("the seed warehouse");
        assert_eq!((level.on_hand, level.reserved), (40, 40));
        actix_rt::System::current().stop();
    });
    let _ = system.run();
    let _ = std::fs::remove_dir_all(&dir);
}
