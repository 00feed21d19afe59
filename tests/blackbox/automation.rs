//! What the service does by itself, with nobody calling: an order whose stock cannot be
//! reserved is cancelled with the missing skus as the reason (and refunded if it was paid), and
//! an unpaid card order is cancelled when its payment deadline passes, giving its reserved stock
//! back — while paid orders placed at the same moment are left alone. These run on timers and
//! inter-actor messages, so they are only observable by polling.

use crate::support::*;
use serde_json::json;

#[actix_rt::test]
async fn short_stock_cancels_the_order_by_itself() {
    let server = Server::start().await;
    let api = server.api();
    api.set_stock("ams", "MUG-RED", 1).await;

    let short = str_of(
        &api.place(
            &new_key(),
            &order_body(&[("MUG-RED", 3, 1250)], ("cod", "pending")),
        )
        .await["id"],
    );
    let o = api.wait_status(&short, "cancelled").await;
    let reason = str_of(&o["cancellation"]["reason"]);
    assert!(reason.starts_with("out of stock: "), "reason: {reason}");
    assert!(
        reason.contains("MUG-RED"),
        "the reason names the sku: {reason}"
    );
    assert_eq!(o["stock"], "unavailable", "{o}");

    // A paid order that cannot be served is cancelled and refunded in full.
    let paid = api
        .place(
            &new_key(),
            &order_body(
                &[("MUG-RED", 1, 1250), ("NEVER-STOCKED", 1, 999)],
                ("card", "captured"),
            ),
        )
        .await;
    let paid_id = str_of(&paid["id"]);
    let o = api.wait_status(&paid_id, "cancelled").await;
    let reason = str_of(&o["cancellation"]["reason"]);
    assert!(
        reason.starts_with("out of stock: ") && reason.contains("NEVER-STOCKED"),
        "reason: {reason}"
    );
    assert_eq!(
        o["refunded"],
        json!({"amount": 2249, "currency": "EUR"}),
        "{o}"
    );

    // Nothing stays reserved for them; the one mug is still there to sell.
    let s = api.stock("MUG-RED").await;
    assert_eq!(
        (s["on_hand"].clone(), s["reserved"].clone()),
        (json!(1), json!(0)),
        "{s}"
    );
    let ok = str_of(
        &api.place(
            &new_key(),
            &order_body(&[("MUG-RED", 1, 1250)], ("cod", "pending")),
        )
        .await["id"],
    );
    api.wait_status(&ok, "confirmed").await;
}

#[actix_rt::test]
async fn unpaid_card_orders_are_cancelled_after_the_payment_timeout() {
    let server = Server::start_with("[engine]\npayment_timeout_secs = 1\n").await;
    let api = server.api();
    api.set_stock("ams", "MUG-RED", 10).await;

    // Paid ones first, so their (irrelevant) deadlines fall before the unpaid one's.
    let captured = str_of(
        &api.place(
            &new_key(),
            &order_body(&[("MUG-RED", 1, 1000)], ("card", "captured")),
        )
        .await["id"],
    );
    let paid_later = str_of(
        &api.place(
            &new_key(),
            &order_body(&[("MUG-RED", 2, 1000)], ("card", "pending")),
        )
        .await["id"],
    );
    api.storefront()
        .post(
            &format!("/v1/orders/{paid_later}/payments"),
            &json!({"status": "authorized", "amount": 2000, "reference": "psp-9"}),
        )
        .await
        .expect(200, "report payment within the deadline");
    let unpaid = str_of(
        &api.place(
            &new_key(),
            &order_body(&[("MUG-RED", 3, 1000)], ("card", "pending")),
        )
        .await["id"],
    );

    let o = api.wait_status(&unpaid, "cancelled").await;
    assert!(
        o["cancellation"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("payment"),
        "{}",
        o["cancellation"]
    );
    assert_eq!(
        o["cancellation"]["by"], "payment_timer",
        "{}",
        o["cancellation"]
    );
    assert!(
        o["refunded"].is_null(),
        "nothing was paid, nothing is refunded: {o}"
    );

    // Its three units go back; the paid orders keep theirs.
    wait_until("the unpaid order's reservation is released", || {
        let api = &api;
        async move {
            let s = api.stock("MUG-RED").await;
            if s["reserved"] == 3 && s["on_hand"] == 10 {
                Ok(())
            } else {
                Err(s.to_string())
            }
        }
    })
    .await;
    for id in [&captured, &paid_later] {
        let o = api.order(id).await;
        assert_eq!(
            o["status"], "confirmed",
            "a paid order must survive the payment timer: {o}"
        );
        assert_eq!(count_events(&o, "cancelled"), 0);
    }
}
