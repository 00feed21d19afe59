//! A data directory written by the release before the storage interface and the versioned
//! stored schema (`tests/fixtures/v0-data`, made by `tests/fixtures/make-v0-data.sh`) opens and
//! serves: every order answers with the status its name says, the unpaid order whose payment
//! deadline passed while the service was down is cancelled by its timer, the webhook
//! notifications left pending (their receiver was never there) are delivered to a receiver that
//! now is, and a confirmed order carries on through picking and packing. The service runs on a
//! copy; the fixture itself is never written.

use crate::support::*;
use std::collections::BTreeSet;

/// The status each fixture order was left in, by its name (a return that was approved but not
/// received leaves the order delivered).
fn status_by_name(name: &str) -> &'static str {
    match name {
        "placed" | "timed_out" => "placed",
        "confirmed" | "cod" => "confirmed",
        "packed" => "packed",
        "shipped" => "shipped",
        "delivered" | "return_approved" => "delivered",
        "cancelled" => "cancelled",
        "returned" => "returned",
        other => panic!("unknown fixture order {other}"),
    }
}

/// The webhook notifications each order had pending: every customer-visible moment it went
/// through, none of them delivered (the fixture's receiver was never there).
fn pending_notifications(name: &str) -> &'static [&'static str] {
    match name {
        "confirmed" | "cod" | "packed" => &["confirmed"],
        "shipped" => &["confirmed", "shipped"],
        "delivered" => &["confirmed", "shipped", "delivered"],
        "cancelled" => &["confirmed", "cancelled", "refunded"],
        "return_approved" => &["confirmed", "shipped", "delivered", "return_approved"],
        "returned" => &[
            "confirmed",
            "shipped",
            "delivered",
            "return_approved",
            "refunded",
        ],
        _ => &[],
    }
}

#[actix_rt::test]
async fn a_data_directory_of_the_previous_release_opens_and_serves() {
    let ids = orderly_testkit::fixture::v0_ids();
    let orders: Vec<(&str, &str)> = ids
        .iter()
        .filter(|(k, _)| !k.starts_with("tn_"))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(orders.len(), 10);
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    orderly_testkit::fixture::copy_v0_data(&data);
    let receiver = Receiver::start(0).await;
    let server = Server::start_on(&data, &receiver.config(8)).await;
    let api = server.api();

    // Every order answers, with its whole history; the timed-out one may already be cancelled.
    for &(name, id) in &orders {
        let o = api.order(id).await;
        assert_history_contiguous(&o);
        if name == "timed_out" {
            assert!(
                o["status"] == "placed" || o["status"] == "cancelled",
                "{name}: {o}"
            );
        } else {
            assert_eq!(o["status"], status_by_name(name), "{name}: {o}");
        }
    }
    let approved = api.order(&ids["return_approved"]).await;
    assert!(approved["return_label_url"].is_string(), "{approved}");

    // Its payment deadline passed while the service was down: the timer fires at start.
    let timed_out = api.wait_status(&ids["timed_out"], "cancelled").await;
    assert_eq!(count_events(&timed_out, "cancelled"), 1, "{timed_out}");
    assert_eq!(
        timed_out["cancellation"]["by"], "payment_timer",
        "{timed_out}"
    );
    // The placed order's deadline is years away.
    assert_eq!(api.status_of(&ids["placed"]).await, "placed");

    // The pending notifications reach the receiver, signed, under their stored message ids;
    // the timed-out order's cancellation follows them.
    let mut expected: BTreeSet<(String, String)> = BTreeSet::new();
    for &(name, id) in &orders {
        for kind in pending_notifications(name) {
            expected.insert((id.to_string(), format!("order.{kind}")));
        }
    }
    assert_eq!(expected.len(), 20);
    expected.insert((ids["timed_out"].clone(), "order.cancelled".into()));
    crate::upgrade_walk::pending_notifications_arrive(&api, &receiver, &expected).await;

    // A confirmed order of the old release carries on: picked, packed, booked.
    let confirmed = &ids["confirmed"];
    assert!(api
        .all_orders(Some("confirmed"))
        .await
        .iter()
        .any(|o| o["id"] == confirmed.as_str()));
    api.pick_all(confirmed, "ams").await;
    let packed = api.pack(confirmed, "ams").await;
    assert_eq!(packed["status"], "packed", "{packed}");
    assert!(
        packed["shipments"][0]["booking"]["tracking_number"].is_string(),
        "{packed}"
    );
    assert_history_contiguous(&packed);
    let o = api.order(confirmed).await;
    assert_eq!(o["version"], packed["version"]);
    // Old and new records side by side: the whole history reads back.
    let types: Vec<&str> = o["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        types,
        vec![
            "placed",
            "stock_reserved",
            "confirmed",
            "picks_acknowledged",
            "packed",
            "shipment_booked"
        ]
    );
    // Tracking numbers booked by the old release still find their orders.
    let ack = api
        .scan(
            &ids["tn_packed"],
            "v0-ev-1",
            "in_transit",
            "2026-11-25T10:00:00Z",
        )
        .await;
    assert_eq!(ack["order_status"], "shipped", "{ack}");
    receiver.stop().await;
}
