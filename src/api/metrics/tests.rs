use super::route_label;

#[test]
fn labels_are_route_templates_and_unknown_paths_collapse() {
    assert_eq!(
        route_label("/v1/orders/0191-x/pack"),
        "/v1/orders/{id}/pack"
    );
    assert_eq!(route_label("/v1/orders"), "/v1/orders");
    assert_eq!(
        route_label("/v1/inventory/ams/SKU-1"),
        "/v1/inventory/{warehouse}/{sku}"
    );
    assert_eq!(route_label("/v1/track/abc"), "/v1/track/{token}");
    assert_eq!(route_label("/v1/warehouses"), "/v1/warehouses");
    assert_eq!(route_label("/v1/availability"), "/v1/availability");
    assert_eq!(route_label("/etc/passwd"), "unmatched");
    assert_eq!(route_label("/v1/orders/a/b/c/d/e"), "unmatched");
}
