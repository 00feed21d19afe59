//! The black-box harness: runs the real `orderly` binary as a child process on a free port with
//! its own data directory (through `orderly-testkit`, the helper the measuring tools share),
//! talks to it over HTTP like any client would, and records the webhooks it sends.
//!
//! Nothing here links against the service's code: every test sees only the HTTP contract, so a
//! passing suite says the shipped binary behaves, not that its internals agree with themselves.

#![allow(dead_code)]

use actix_web::http::header::HeaderMap;
use actix_web::web::Bytes;
use orderly_testkit::Service;
use serde_json::{json, Value};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const STOREFRONT_KEY: &str = "dev-storefront-key-0001";
pub const WAREHOUSE_KEY: &str = "dev-warehouse-key-00001";
pub const ADMIN_KEY: &str = "dev-admin-key-000000001";
pub const POSTNL_KEY: &str = "dev-carrier-postnl-0001";
pub const DHL_KEY: &str = "dev-carrier-dhl-0000001";
pub const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// How long the service may take to become ready.
const READY_DEADLINE: Duration = Duration::from_secs(15);
/// How long `eventually` waits for asynchronous work.
const EVENTUALLY_DEADLINE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// The service process
// ---------------------------------------------------------------------------------------------

/// One running `orderly` process with its own config, data directory and log.
pub struct Server {
    service: Service,
}

impl Server {
    /// Starts the service with the test defaults.
    pub async fn start() -> Server {
        Server::start_with("").await
    }

    /// Starts the service with `extra_toml` merged over the test defaults: a key given under a
    /// table that the default config has replaces the default value; new tables are appended.
    pub async fn start_with(extra_toml: &str) -> Server {
        Server::start_in(None, extra_toml).await
    }

    /// Starts the service "open": the test defaults without their `[[warehouses]]`, so any
    /// warehouse id of valid shape is taken as given; `extra_toml` merged over that.
    pub async fn start_open(extra_toml: &str) -> Server {
        let base =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml"))
                .expect("read config.toml");
        Server::start_on_config(&without_warehouses(&base), extra_toml).await
    }

    /// Starts the service on `config` (a whole config file's text, e.g. `config.toml` edited),
    /// with the test defaults and `extra_toml` merged over it.
    pub async fn start_on_config(config: &str, extra_toml: &str) -> Server {
        let service = Service::builder(env!("CARGO_BIN_EXE_orderly"))
            .config_text(config)
            .merge("[engine]\ntimer_tick_ms = 20\nidle_timeout_secs = 1\n")
            .merge(extra_toml)
            .ready_within(READY_DEADLINE)
            .start()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        Server { service }
    }

    /// Starts the service on an existing data directory (a copy of a fixture), with
    /// `extra_toml` merged over the test defaults.
    pub async fn start_on(data_dir: &Path, extra_toml: &str) -> Server {
        Server::start_in(Some(data_dir), extra_toml).await
    }

    /// Starts the service as `start_with` does, with `env` set in its environment.
    pub async fn start_with_env(extra_toml: &str, env: &[(&str, &str)]) -> Server {
        Server::start_in_env(None, extra_toml, env).await
    }

    async fn start_in(data_dir: Option<&Path>, extra_toml: &str) -> Server {
        Server::start_in_env(data_dir, extra_toml, &[]).await
    }

    async fn start_in_env(
        data_dir: Option<&Path>,
        extra_toml: &str,
        env: &[(&str, &str)],
    ) -> Server {
        let base_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
        let mut builder = Service::builder(env!("CARGO_BIN_EXE_orderly"))
            .config_file(base_path)
            .merge("[engine]\ntimer_tick_ms = 20\nidle_timeout_secs = 1\n")
            .merge(extra_toml)
            .ready_within(READY_DEADLINE);
        if let Some(dir) = data_dir {
            builder = builder.data_dir(dir);
        }
        for (k, v) in env {
            builder = builder.env(*k, *v);
        }
        let service = builder.start().await.unwrap_or_else(|e| panic!("{e}"));
        Server { service }
    }

    pub fn base_url(&self) -> String {
        self.service.base_url()
    }

    /// A fresh client for this server (a new connection pool: use a new one after a restart).
    pub fn api(&self) -> Api {
        Api::new(self.base_url())
    }

    pub fn data_dir(&self) -> PathBuf {
        self.service.data_dir().to_path_buf()
    }

    /// The service's log so far (stderr of every run).
    pub fn log(&self) -> String {
        self.service.log()
    }

    /// The config file the service runs with (its bind address and data directory written in).
    pub fn config_path(&self) -> PathBuf {
        self.service.config_path()
    }

    /// Stops the process with SIGTERM and waits for it to exit.
    pub async fn stop(&mut self) {
        assert!(
            self.service.stop(Duration::from_secs(10)).await.is_some(),
            "stop on a server that is not running"
        );
    }

    /// Kills the process with SIGKILL, as a crash or an OOM kill would.
    pub fn kill9(&mut self) {
        assert!(
            self.service.kill9(),
            "kill9 on a server that is not running"
        );
    }

    /// Starts the process again with the same config and data directory (killing it first if
    /// it is still running).
    pub async fn restart(&mut self) {
        if let Err(e) = self.service.restart().await {
            panic!("{e}");
        }
    }
}

/// `toml` without its `[[warehouses]]` tables.
pub fn without_warehouses(toml: &str) -> String {
    let mut out = Vec::new();
    let mut skipping = false;
    for line in toml.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            skipping = t == "[[warehouses]]";
        }
        if !skipping {
            out.push(line);
        }
    }
    out.join("\n")
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- orderly log ({}) ----\n{}",
                self.service.log_path().display(),
                self.service.log_tail(60)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP client
// ---------------------------------------------------------------------------------------------

/// Which bearer key a request carries.
#[derive(Debug, Clone, Copy)]
pub enum Key {
    None,
    Storefront,
    Warehouse,
    Admin,
    PostNl,
    Dhl,
    Raw(&'static str),
}

impl Key {
    fn value(self) -> Option<&'static str> {
        match self {
            Key::None => None,
            Key::Storefront => Some(STOREFRONT_KEY),
            Key::Warehouse => Some(WAREHOUSE_KEY),
            Key::Admin => Some(ADMIN_KEY),
            Key::PostNl => Some(POSTNL_KEY),
            Key::Dhl => Some(DHL_KEY),
            Key::Raw(k) => Some(k),
        }
    }
}

/// A response: status, headers, the body parsed as JSON (Null if it is not JSON) and raw.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub json: Value,
    pub bytes: Bytes,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// Panics with the request's description unless the status is `want`.
    pub fn expect(self, want: u16, what: &str) -> Resp {
        assert_eq!(
            self.status,
            want,
            "{what}: expected {want}, got {} with body {}",
            self.status,
            self.text()
        );
        self
    }

    /// Asserts an RFC 9457 problem with status `want`, and returns its body.
    pub fn problem(self, want: u16, what: &str) -> Value {
        let r = self.expect(want, what);
        let ct = r.header("content-type").unwrap_or_default();
        assert!(
            ct.starts_with("application/problem+json"),
            "{what}: content-type {ct:?}, want application/problem+json; body {}",
            r.text()
        );
        for f in ["type", "title", "detail"] {
            assert!(
                r.json[f].is_string(),
                "{what}: problem lacks a string '{f}': {}",
                r.json
            );
        }
        assert_eq!(
            r.json["status"],
            json!(want),
            "{what}: problem status field: {}",
            r.json
        );
        r.json
    }
}

/// An HTTP client for one server.
#[derive(Clone)]
pub struct Api {
    base: String,
    client: awc::Client,
}

/// A request builder bound to a key.
pub struct Call<'a> {
    api: &'a Api,
    key: Key,
    headers: Vec<(String, String)>,
}

impl Api {
    pub fn new(base: String) -> Api {
        let connector = awc::Connector::new()
            .limit(256)
            .timeout(Duration::from_secs(5));
        let client = awc::Client::builder()
            .connector(connector)
            .timeout(Duration::from_secs(30))
            .finish();
        Api { base, client }
    }

    pub fn with(&self, key: Key) -> Call<'_> {
        Call {
            api: self,
            key,
            headers: Vec::new(),
        }
    }
    pub fn anon(&self) -> Call<'_> {
        self.with(Key::None)
    }
    pub fn storefront(&self) -> Call<'_> {
        self.with(Key::Storefront)
    }
    pub fn warehouse(&self) -> Call<'_> {
        self.with(Key::Warehouse)
    }
    pub fn admin(&self) -> Call<'_> {
        self.with(Key::Admin)
    }
    pub fn postnl(&self) -> Call<'_> {
        self.with(Key::PostNl)
    }
    pub fn dhl(&self) -> Call<'_> {
        self.with(Key::Dhl)
    }

    // ----- shortcuts for the common steps; each asserts success -----

    pub async fn set_stock(&self, warehouse: &str, sku: &str, on_hand: i64) -> Value {
        self.admin()
            .put(
                &format!("/v1/inventory/{warehouse}/{sku}"),
                &json!({ "on_hand": on_hand }),
            )
            .await
            .expect(200, "set stock")
            .json
    }

    pub async fn stock(&self, sku: &str) -> Value {
        self.admin()
            .get(&format!("/v1/inventory/{sku}"))
            .await
            .expect(200, "read stock")
            .json
    }

    /// Places an order and returns the 201 body.
    pub async fn place(&self, idempotency_key: &str, body: &Value) -> Value {
        self.storefront()
            .idempotency(idempotency_key)
            .post("/v1/orders", body)
            .await
            .expect(201, "place order")
            .json
    }

    pub async fn order(&self, id: &str) -> Value {
        self.storefront()
            .get(&format!("/v1/orders/{id}"))
            .await
            .expect(200, "get order")
            .json
    }

    pub async fn status_of(&self, id: &str) -> String {
        self.order(id).await["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits until the order has `status`, and returns it.
    pub async fn wait_status(&self, id: &str, status: &str) -> Value {
        wait_until(
            &format!("order {id} reaches status {status}"),
            || async move {
                let o = self.order(id).await;
                if o["status"] == status {
                    Ok(o)
                } else {
                    Err(format!(
                        "status {} stock {} cancellation {}",
                        o["status"], o["stock"], o["cancellation"]
                    ))
                }
            },
        )
        .await
    }

    /// Every order, following `next_cursor` (newest first).
    pub async fn all_orders(&self, status: Option<&str>) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let mut path = "/v1/orders?limit=200".to_string();
            if let Some(s) = status {
                path.push_str(&format!("&status={s}"));
            }
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = self
                .storefront()
                .get(&path)
                .await
                .expect(200, "list orders")
                .json;
            out.extend(page["orders"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return out,
            }
        }
        panic!("listing orders did not end after 1000 pages");
    }

    pub async fn pick_all(&self, id: &str, warehouse: &str) -> Value {
        let o = self.order(id).await;
        let lines: Vec<Value> = o["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .map(|l| json!({"sku": l["sku"], "quantity": l["quantity"]}))
            .collect();
        self.warehouse()
            .post(
                &format!("/v1/orders/{id}/picks"),
                &json!({"warehouse": warehouse, "lines": lines}),
            )
            .await
            .expect(200, "acknowledge picks")
            .json
    }

    pub async fn pack(&self, id: &str, warehouse: &str) -> Value {
        self.warehouse()
            .post(
                &format!("/v1/orders/{id}/pack"),
                &json!({"warehouse": warehouse, "parcels": [{"weight_grams": 1200}]}),
            )
            .await
            .expect(200, "pack")
            .json
    }

    pub async fn handover(&self, id: &str) -> Value {
        self.warehouse()
            .post(&format!("/v1/orders/{id}/handover"), &json!({}))
            .await
            .expect(200, "handover")
            .json
    }

    /// Posts a PostNL scan and returns the acknowledgement.
    pub async fn scan(
        &self,
        tracking_number: &str,
        event_id: &str,
        kind: &str,
        occurred_at: &str,
    ) -> Value {
        self.postnl()
            .post(
                "/v1/carriers/postnl/events",
                &json!({"event_id": event_id, "tracking_number": tracking_number, "type": kind, "occurred_at": occurred_at, "location": "Utrecht hub"}),
            )
            .await
            .expect(200, "carrier event")
            .json
    }

    /// Confirmed → delivered: picks, pack, handover and a delivered scan. Returns the order.
    /// A counter's or gauge's value in `/metrics` (the first line starting with `name`).
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self
            .admin()
            .get("/metrics")
            .await
            .expect(200, "metrics")
            .text();
        text.lines()
            .find(|l| l.starts_with(name) && !l.starts_with('#'))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in /metrics"))
    }

    /// Waits for the dead letter of order `id`'s message on `channel`, and returns it.
    pub async fn dead_letter_of(&self, id: &str, channel: &str) -> Value {
        wait_until(
            &format!("{id}'s {channel} message is dead-lettered"),
            || async {
                let letters = self
                    .admin()
                    .get("/v1/notifications/dead-letters")
                    .await
                    .expect(200, "dead letters")
                    .json;
                letters
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|l| l["order_id"] == id && l["channel"] == channel)
                    .cloned()
                    .ok_or_else(|| format!("not yet: {letters}"))
            },
        )
        .await
    }

    pub async fn deliver(&self, id: &str, warehouse: &str) -> Value {
        self.pick_all(id, warehouse).await;
        let packed = self.pack(id, warehouse).await;
        let tn = packed["shipments"][0]["booking"]["tracking_number"]
            .as_str()
            .expect("booked")
            .to_string();
        self.handover(id).await;
        let ack = self
            .scan(
                &tn,
                &format!("ev-{id}-delivered"),
                "delivered",
                "2026-03-02T10:00:00Z",
            )
            .await;
        assert_eq!(ack["order_status"], "delivered", "{ack}");
        self.order(id).await
    }
}

impl<'a> Call<'a> {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn idempotency(self, key: &str) -> Self {
        self.header("Idempotency-Key", key)
    }

    pub async fn get(self, path: &str) -> Resp {
        self.send("GET", path, None).await
    }

    pub async fn post(self, path: &str, body: &Value) -> Resp {
        self.send(
            "POST",
            path,
            Some(("application/json", Bytes::from(body.to_string()))),
        )
        .await
    }

    pub async fn put(self, path: &str, body: &Value) -> Resp {
        self.send(
            "PUT",
            path,
            Some(("application/json", Bytes::from(body.to_string()))),
        )
        .await
    }

    pub async fn delete(self, path: &str) -> Resp {
        self.send("DELETE", path, None).await
    }

    /// Sends raw bytes as the body, e.g. malformed or oversized JSON.
    pub async fn post_raw(
        self,
        path: &str,
        content_type: &'static str,
        body: impl Into<Bytes>,
    ) -> Resp {
        self.send("POST", path, Some((content_type, body.into())))
            .await
    }

    pub async fn try_send(
        self,
        method: &str,
        path: &str,
        body: Option<(&str, Bytes)>,
    ) -> Result<Resp, String> {
        let url = format!("{}{}", self.api.base, path);
        let method = actix_web::http::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.api.client.request(method, &url);
        if let Some(k) = self.key.value() {
            req = req.insert_header(("Authorization", format!("Bearer {k}")));
        }
        for (n, v) in &self.headers {
            req = req.insert_header((n.as_str(), v.as_str()));
        }
        let sent = match body {
            Some((ct, b)) => req.insert_header(("Content-Type", ct)).send_body(b).await,
            None => req.send().await,
        };
        let mut resp = sent.map_err(|e| format!("{url}: {e}"))?;
        let bytes = resp
            .body()
            .limit(16 << 20)
            .await
            .map_err(|e| format!("{url}: reading the body: {e}"))?;
        let status = resp.status().as_u16();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let r = Resp {
            status,
            headers: resp.headers().clone(),
            json,
            bytes,
        };
        // The contract: nothing a client sends is ever answered with a 500.
        assert_ne!(r.status, 500, "{url} answered 500: {}", r.text());
        Ok(r)
    }

    async fn send(self, method: &str, path: &str, body: Option<(&str, Bytes)>) -> Resp {
        let what = format!("{method} {path}");
        self.try_send(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"))
    }
}

// ---------------------------------------------------------------------------------------------
// Waiting for asynchronous work
// ---------------------------------------------------------------------------------------------

/// Polls `check` until it returns true, panicking after the deadline.
pub async fn eventually<F, Fut>(desc: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_until(desc, || {
        let f = check();
        async move {
            if f.await {
                Ok(())
            } else {
                Err("condition false".to_string())
            }
        }
    })
    .await
}

/// Polls `check` until it returns Ok, and returns its value; panics after the deadline with
/// the last Err (a description of what was seen).
pub async fn wait_until<T, F, Fut>(desc: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + EVENTUALLY_DEADLINE;
    let mut last;
    loop {
        match check().await {
            Ok(v) => return v,
            Err(e) => last = e,
        }
        if Instant::now() > deadline {
            panic!(
                "timed out after {EVENTUALLY_DEADLINE:?} waiting until {desc}; last seen: {last}"
            );
        }
        actix_rt::time::sleep(Duration::from_millis(30)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------------------------

pub const EMAIL: &str = "jan.jansen@example.nl";
pub const PHONE: &str = "+31612345678";
pub const NAME: &str = "Jan Jansen";
pub const STREET: &str = "Keizersgracht 123";
pub const POSTAL_CODE: &str = "1015 CJ";
pub const CITY: &str = "Amsterdam";

/// A valid order to a Dutch address. `lines` are (sku, quantity, unit price in cents);
/// `payment` is (method, status).
pub fn order_body(lines: &[(&str, u32, i64)], payment: (&str, &str)) -> Value {
    json!({
        "external_ref": "web-1001",
        "customer": {"id": "cust-42", "email": EMAIL, "phone": PHONE, "locale": "nl-NL"},
        "currency": "EUR",
        "lines": lines.iter().map(|(sku, q, p)| json!({"sku": sku, "quantity": q, "unit_price": p})).collect::<Vec<_>>(),
        "shipping": {
            "method": "standard",
            "address": {"name": NAME, "line1": STREET, "line2": "2hg", "city": CITY, "postal_code": POSTAL_CODE, "country": "NL"}
        },
        "payment": {"method": payment.0, "status": payment.1}
    })
}

/// A fresh Idempotency-Key.
pub fn new_key() -> String {
    format!("test-{}", uuid::Uuid::new_v4())
}

pub fn str_of(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_string()
}

/// History seq numbers are exactly 1..=n in order: every transition recorded once.
pub fn assert_history_contiguous(order: &Value) {
    let seqs: Vec<u64> = order["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
    let want: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(
        seqs, want,
        "order {} history seq numbers are not 1..n",
        order["id"]
    );
}

/// How many events of `kind` the order's history holds.
pub fn count_events(order: &Value, kind: &str) -> usize {
    order["history"]
        .as_array()
        .map(|h| h.iter().filter(|e| e["type"] == kind).count())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Webhook receiver
// ---------------------------------------------------------------------------------------------

pub use orderly_testkit::Hook;

/// The shared webhook receiver (`orderly_testkit::Receiver`), recording every request; it
/// answers 500 to the first `fail_first` (`usize::MAX`: to all of them), 200 after that.
pub struct Receiver(orderly_testkit::Receiver);

impl Receiver {
    pub async fn start(fail_first: usize) -> Receiver {
        Receiver(
            orderly_testkit::Receiver::start(fail_first)
                .await
                .expect("start the webhook receiver"),
        )
    }

    /// The `[notifications]` config pointing at this receiver.
    pub fn config(&self, max_attempts: u32) -> String {
        self.0.notifications_toml(max_attempts, WEBHOOK_SECRET)
    }

    pub async fn stop(self) {
        self.0.stop().await;
    }
}

impl std::ops::Deref for Receiver {
    type Target = orderly_testkit::Receiver;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// An order's history as its event types, in order.
pub fn history_types(order: &Value) -> Vec<String> {
    order["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|e| str_of(&e["type"]))
        .collect()
}
