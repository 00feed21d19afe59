//! Prometheus metrics: HTTP request counts and latencies by route, plus the engine's counters
//! (transitions, flushes and their batch sizes, live actors, outbox and notifications).

use orderly_actors::engine::EngineMetrics;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CarrierLabels {
    pub carrier: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WarehouseLabels {
    pub warehouse: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: &'static str,
}

/// The route template of a request path, for metric labels: a fixed set of values whatever
/// clients send (an unknown path is `unmatched`), computed from the path's shape without
/// running the router again. Mirrors the table in `api::routes`.
pub fn route_label(path: &str) -> &'static str {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    match segs.as_slice() {
        ["healthz"] => "/healthz",
        ["readyz"] => "/readyz",
        ["metrics"] => "/metrics",
        ["openapi.json"] => "/openapi.json",
        ["v1", "track", _] => "/v1/track/{token}",
        ["v1", "orders"] => "/v1/orders",
        ["v1", "orders", _] => "/v1/orders/{id}",
        ["v1", "orders", _, "payments"] => "/v1/orders/{id}/payments",
        ["v1", "orders", _, "notifications"] => "/v1/orders/{id}/notifications",
        ["v1", "orders", _, "cancel"] => "/v1/orders/{id}/cancel",
        ["v1", "orders", _, "returns"] => "/v1/orders/{id}/returns",
        ["v1", "orders", _, "returns", "label"] => "/v1/orders/{id}/returns/label",
        ["v1", "orders", _, "returns", "receive"] => "/v1/orders/{id}/returns/receive",
        ["v1", "orders", _, "picks"] => "/v1/orders/{id}/picks",
        ["v1", "orders", _, "pack"] => "/v1/orders/{id}/pack",
        ["v1", "orders", _, "label"] => "/v1/orders/{id}/label",
        ["v1", "orders", _, "handover"] => "/v1/orders/{id}/handover",
        ["v1", "warehouses"] => "/v1/warehouses",
        ["v1", "warehouses", _, "picks"] => "/v1/warehouses/{warehouse}/picks",
        ["v1", "availability"] => "/v1/availability",
        ["v1", "quotes"] => "/v1/quotes",
        ["v1", "carriers", _, "events"] => "/v1/carriers/{carrier}/events",
        ["v1", "inventory", _] => "/v1/inventory/{sku}",
        ["v1", "inventory", _, _] => "/v1/inventory/{warehouse}/{sku}",
        ["v1", "admin", "backup"] => "/v1/admin/backup",
        ["v1", "notifications", "dead-letters"] => "/v1/notifications/dead-letters",
        ["v1", "notifications", "preview"] => "/v1/notifications/preview",
        ["v1", "notifications", "dead-letters", _, "retry"] => {
            "/v1/notifications/dead-letters/{id}/retry"
        }
        _ => "unmatched",
    }
}

pub struct HttpMetrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("orderly");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 16))
        });
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        HttpMetrics {
            registry,
            requests,
            latency,
        }
    }
}

impl HttpMetrics {
    /// The exposition text: HTTP metrics plus a snapshot of the engine's counters.
    pub fn render(&self, engine: &EngineMetrics) -> String {
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry);
        // Engine counters live in the engine as atomics; copy them into a scrape-time registry.
        let mut r = Registry::with_prefix("orderly");
        let s = engine;
        let f = engine.flushes;
        let notifier = engine.notifications;
        let counter = |r: &mut Registry, name: &str, help: &str, v: u64| {
            let c = Counter::<u64>::default();
            c.inc_by(v);
            r.register(name, help, c);
        };
        let gauge = |r: &mut Registry, name: &str, help: &str, v: i64| {
            let g = Gauge::<i64>::default();
            g.set(v);
            r.register(name, help, g);
        };
        counter(
            &mut r,
            "transitions",
            "Order events recorded",
            s.transitions,
        );
        counter(
            &mut r,
            "commands_rejected",
            "Commands refused by the state machine",
            s.rejected,
        );
        counter(
            &mut r,
            "actor_activations",
            "Order actors activated from storage",
            s.activations,
        );
        counter(
            &mut r,
            "actor_failures",
            "Order actors that failed and were reactivated",
            s.actor_failures,
        );
        counter(
            &mut r,
            "effects_delivered",
            "Inter-actor messages completed",
            s.effects_done,
        );
        counter(
            &mut r,
            "effect_retries",
            "Inter-actor message attempts that failed and were retried",
            s.effect_retries,
        );
        counter(
            &mut r,
            "timers_fired",
            "Stored timers fired",
            s.timers_fired,
        );
        counter(
            &mut r,
            "write_conflicts",
            "Writes refused by storage's version check (another node wrote the order first) and decided again",
            s.conflicts,
        );
        counter(
            &mut r,
            "order_reloads",
            "Orders reloaded before a refusal because another node may have moved them on",
            s.reloads,
        );
        counter(
            &mut r,
            "flushes",
            "Group commits: flushes that made acknowledged writes durable",
            f.flushes,
        );
        counter(
            &mut r,
            "flushed_writes",
            "Acknowledged writes made durable by those flushes",
            f.flushed_writes,
        );
        counter(
            &mut r,
            "flush_microseconds",
            "Time spent flushing",
            f.flush_micros,
        );
        counter(
            &mut r,
            "notifications_delivered",
            "Notifications delivered",
            notifier.delivered,
        );
        counter(
            &mut r,
            "notification_failures",
            "Failed notification attempts",
            notifier.failed_attempts,
        );
        counter(
            &mut r,
            "notifications_dead_lettered",
            "Notifications that ran out of attempts",
            notifier.dead_lettered,
        );
        counter(
            &mut r,
            "notification_locale_fallbacks",
            "Messages sent in English because their order's locale has no template",
            notifier.locale_fallbacks,
        );
        counter(
            &mut r,
            "notification_sms_segments",
            "SMS parts sent (what providers bill)",
            notifier.sms_segments,
        );
        let unknown = Family::<CarrierLabels, Counter>::default();
        for (carrier, n) in &engine.unknown_codes {
            unknown
                .get_or_create(&CarrierLabels {
                    carrier: carrier.clone(),
                })
                .inc_by(*n);
        }
        r.register(
            "carrier_unknown_codes",
            "Carrier event codes no tracking_codes table maps (recorded as unknown), by carrier",
            unknown,
        );
        let late = Family::<WarehouseLabels, Counter>::default();
        for (warehouse, n) in &engine.pick_pack_late {
            late.get_or_create(&WarehouseLabels {
                warehouse: warehouse.clone(),
            })
            .inc_by(*n);
        }
        r.register(
            "pick_pack_late",
            "Shipments not packed by their warehouse's pick-and-pack deadline, by warehouse",
            late,
        );
        gauge(
            &mut r,
            "active_order_actors",
            "Order actors currently in memory",
            engine.active_actors as i64,
        );
        gauge(
            &mut r,
            "notifications_held_back",
            "Messages waiting for a channel's attempts under way to end (its max_in_flight)",
            notifier.held_back as i64,
        );
        gauge(
            &mut r,
            "ready",
            "1 when the engine accepts requests",
            engine.ready as i64,
        );
        let mut rest = String::new();
        let _ = encode(&mut rest, &r);
        // Both encodings end with "# EOF"; keep only the last.
        out.truncate(
            out.trim_end()
                .strip_suffix("# EOF")
                .map(str::len)
                .unwrap_or(out.len()),
        );
        out.push_str(&rest);
        out
    }
}

#[cfg(test)]
mod tests;
