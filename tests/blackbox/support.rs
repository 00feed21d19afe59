//! The black-box harness: runs the real `orderly` binary as a child process on a free port with
//! its own data directory, talks to it over HTTP like any client would, and records the
//! webhooks it sends.
//!
//! Nothing here links against the service's code: every test sees only the HTTP contract, so a
//! passing suite says the shipped binary behaves, not that its internals agree with themselves.

#![allow(dead_code)]

use actix_web::http::header::HeaderMap;
use actix_web::web::Bytes;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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
    dir: tempfile::TempDir,
    extra: String,
    port: u16,
    child: Option<Child>,
}

impl Server {
    /// Starts the service with the test defaults.
    pub async fn start() -> Server {
        Server::start_with("").await
    }

    /// Starts the service with `extra_toml` merged over the test defaults: a key given under a
    /// table that the default config has replaces the default value; new tables are appended.
    pub async fn start_with(extra_toml: &str) -> Server {
        let dir = tempfile::Builder::new()
            .prefix("orderly-blackbox-")
            .tempdir()
            .expect("create a temporary directory");
        let mut s = Server {
            dir,
            extra: extra_toml.to_string(),
            port: free_port(),
            child: None,
        };
        s.spawn_ready().await;
        s
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A fresh client for this server (a new connection pool: use a new one after a restart).
    pub fn api(&self) -> Api {
        Api::new(self.base_url())
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("orderly.log")
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    /// The service's log so far (stderr of every run).
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = File::open(self.log_path()) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    fn write_config(&self) {
        let base_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
        let base = std::fs::read_to_string(&base_path).expect("read the default config.toml");
        let data_dir = self.data_dir();
        let ours = format!(
            "[server]\nbind = \"127.0.0.1:{}\"\n[storage]\ndata_dir = {:?}\n[engine]\ntimer_tick_ms = 20\nidle_timeout_secs = 1\n",
            self.port,
            data_dir.to_str().expect("temporary paths are UTF-8"),
        );
        let merged = merge_toml(&merge_toml(&base, &ours), &self.extra);
        std::fs::write(self.config_path(), merged).expect("write the test config");
    }

    /// Spawns the binary and waits until `/readyz` answers 200. Retries on another port if
    /// the chosen one was taken in the meantime.
    async fn spawn_ready(&mut self) {
        for attempt in 0..3 {
            self.write_config();
            let log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.log_path())
                .expect("open the log file");
            let child = Command::new(env!("CARGO_BIN_EXE_orderly"))
                .arg("--config")
                .arg(self.config_path())
                .env_remove("RUST_LOG")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone the log handle"))
                .stderr(log)
                .spawn()
                .expect("spawn the orderly binary");
            self.child = Some(child);
            match self.wait_ready().await {
                Ok(()) => return,
                Err(exited) => {
                    let log = self.log();
                    if exited && log.contains("cannot listen") && attempt < 2 {
                        self.port = free_port();
                        continue;
                    }
                    self.kill_child();
                    panic!(
                        "orderly did not become ready on port {}; its log:\n{log}",
                        self.port
                    );
                }
            }
        }
    }

    /// Ok once ready; Err(true) if the process exited, Err(false) on timeout.
    async fn wait_ready(&mut self) -> Result<(), bool> {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(2))
            .finish();
        let url = format!("{}/readyz", self.base_url());
        let deadline = Instant::now() + READY_DEADLINE;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(_)) = child.try_wait() {
                    return Err(true);
                }
            }
            if let Ok(resp) = client.get(&url).send().await {
                if resp.status().as_u16() == 200 {
                    return Ok(());
                }
            }
            actix_rt::time::sleep(Duration::from_millis(25)).await;
        }
        Err(false)
    }

    fn kill_child(&mut self) {
        if let Some(mut child) = self.child.take() {
            // `Child::kill` is SIGKILL on Unix: no shutdown hooks, no flushing.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the process with SIGKILL, as a crash or an OOM kill would.
    pub fn kill9(&mut self) {
        assert!(
            self.child.is_some(),
            "kill9 on a server that is not running"
        );
        self.kill_child();
    }

    /// Starts the process again with the same config and data directory (killing it first if
    /// it is still running).
    pub async fn restart(&mut self) {
        self.kill_child();
        self.spawn_ready().await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill_child();
        if std::thread::panicking() {
            eprintln!(
                "---- orderly log ({}) ----\n{}",
                self.log_path().display(),
                tail(&self.log(), 60)
            );
        }
    }
}

fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local address").port()
}

/// Merges simple TOML (`[table]` headers and one-line `key = value` pairs) over `base`:
/// a key of a table that `base` has replaces (or is added to) that table; tables `base` lacks
/// are appended. Enough for overriding the default config without a TOML library.
pub fn merge_toml(base: &str, extra: &str) -> String {
    let mut overrides: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let mut section = String::new();
    for line in extra.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if let Some(name) = table_header(t) {
            section = name;
            if !overrides.iter().any(|(s, _)| *s == section) {
                overrides.push((section.clone(), Vec::new()));
            }
            continue;
        }
        let key = bare_key(t)
            .unwrap_or_else(|| panic!("merge_toml handles `key = value` lines only, not {t:?}"));
        if !overrides.iter().any(|(s, _)| *s == section) {
            overrides.push((section.clone(), Vec::new()));
        }
        let entry = overrides
            .iter_mut()
            .find(|(s, _)| *s == section)
            .expect("just added");
        entry.1.retain(|(k, _)| *k != key);
        entry.1.push((key, t.to_string()));
    }

    let mut out: Vec<String> = Vec::new();
    let mut seen_tables: Vec<String> = vec![String::new()];
    let mut current = String::new();
    let keys_of = |s: &str| {
        overrides
            .iter()
            .find(|(n, _)| n == s)
            .map(|(_, k)| k.clone())
            .unwrap_or_default()
    };
    // Root keys go first, before any table.
    for (k, line) in keys_of("") {
        if !base
            .lines()
            .take_while(|l| table_header(l.trim()).is_none())
            .any(|l| bare_key(l.trim()).as_deref() == Some(&k))
        {
            out.push(line.clone());
        }
    }
    for line in base.lines() {
        let t = line.trim();
        if let Some(name) = table_header(t) {
            current = name.clone();
            seen_tables.push(name.clone());
            out.push(line.to_string());
            if !t.starts_with("[[") {
                // Keys the base table lacks go right after its header.
                for (k, l) in keys_of(&name) {
                    let present = table_has_key(base, &name, &k);
                    if !present {
                        out.push(l.clone());
                    }
                }
            }
            continue;
        }
        if !t.starts_with('#') {
            if let Some(k) = bare_key(t) {
                if let Some((_, l)) = keys_of(&current).into_iter().find(|(kk, _)| *kk == k) {
                    out.push(l);
                    continue;
                }
            }
        }
        out.push(line.to_string());
    }
    for (name, keys) in &overrides {
        if seen_tables.contains(name) {
            continue;
        }
        out.push(format!("[{name}]"));
        for (_, l) in keys {
            out.push(l.clone());
        }
    }
    out.push(String::new());
    out.join("\n")
}

fn table_header(t: &str) -> Option<String> {
    let inner = t
        .strip_prefix("[[")
        .and_then(|r| r.strip_suffix("]]"))
        .or_else(|| t.strip_prefix('[').and_then(|r| r.strip_suffix(']')))?;
    let inner = inner.trim();
    (!inner.is_empty()
        && inner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'))
    .then(|| inner.to_string())
}

fn bare_key(t: &str) -> Option<String> {
    let (k, _) = t.split_once('=')?;
    let k = k.trim();
    (!k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
    .then(|| k.to_string())
}

fn table_has_key(base: &str, table: &str, key: &str) -> bool {
    let mut current = String::new();
    for line in base.lines() {
        let t = line.trim();
        if let Some(name) = table_header(t) {
            current = name;
            continue;
        }
        if current == table && !t.starts_with('#') && bare_key(t).as_deref() == Some(key) {
            return true;
        }
    }
    false
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

/// One request the receiver got, and what it answered.
#[derive(Debug, Clone)]
pub struct Hook {
    pub headers: HashMap<String, String>,
    pub body: String,
    pub answered: u16,
}

impl Hook {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
    pub fn id(&self) -> String {
        self.headers.get("webhook-id").cloned().unwrap_or_default()
    }
}

/// A local HTTP server that records every request and answers 500 to the first `fail_first`
/// (`usize::MAX`: to all of them), 200 after that.
pub struct Receiver {
    pub url: String,
    hooks: Arc<Mutex<Vec<Hook>>>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    pub async fn start(fail_first: usize) -> Receiver {
        use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
        let hooks: Arc<Mutex<Vec<Hook>>> = Arc::default();
        let count = Arc::new(AtomicUsize::new(0));
        let (h, c) = (hooks.clone(), count.clone());
        let server = HttpServer::new(move || {
            let (hooks, count) = (h.clone(), c.clone());
            App::new().default_service(web::to(move |req: HttpRequest, body: Bytes| {
                let (hooks, count) = (hooks.clone(), count.clone());
                async move {
                    let n = count.fetch_add(1, Ordering::SeqCst);
                    let answered = if n < fail_first { 500 } else { 200 };
                    let headers = req
                        .headers()
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.as_str().to_ascii_lowercase(),
                                v.to_str().unwrap_or_default().to_string(),
                            )
                        })
                        .collect();
                    let body = String::from_utf8_lossy(&body).into_owned();
                    hooks.lock().unwrap().push(Hook {
                        headers,
                        body,
                        answered,
                    });
                    if answered == 500 {
                        HttpResponse::InternalServerError().body("receiver told to fail")
                    } else {
                        HttpResponse::Ok().body("ok")
                    }
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .bind(("127.0.0.1", 0))
        .expect("bind the webhook receiver");
        let addr = server.addrs()[0];
        let running = server.run();
        let handle = running.handle();
        actix_rt::spawn(running);
        Receiver {
            url: format!("http://{addr}/hook"),
            hooks,
            handle,
        }
    }

    pub fn hooks(&self) -> Vec<Hook> {
        self.hooks.lock().unwrap().clone()
    }

    /// The `[notifications]` config pointing at this receiver.
    pub fn config(&self, max_attempts: u32) -> String {
        format!(
            "[notifications]\nmax_attempts = {max_attempts}\nbackoff_base_ms = 20\nbackoff_cap_ms = 100\n[notifications.webhook]\nurl = \"{}\"\nsecret = \"{WEBHOOK_SECRET}\"\ntimeout_ms = 2000\n",
            self.url
        )
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

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
