//! Configuration: `config.toml` overlaid with `ORDERLY_…` environment variables.
//!
//! Nested keys use a double underscore, e.g. `ORDERLY_SERVER__BIND=0.0.0.0:8080` or
//! `ORDERLY_ENGINE__PAYMENT_TIMEOUT_SECS=3600`. Loading is strict (unknown keys are errors), so
//! a typo fails at start with one line naming the key instead of being silently ignored.

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use orderly_actors::domain::shipping::network::Network;
use orderly_actors::domain::shipping::rates::Rule;
use orderly_actors::domain::shipping::CarrierSpec;
use orderly_actors::domain::warehouse::{AllocationPolicy, Warehouse};
use orderly_actors::engine::notifier::NotifierConfig;
use orderly_actors::engine::{EngineConfig, StockAlertsConfig};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    #[serde(default)]
    pub engine: EngineSection,
    pub auth: AuthConfig,
    #[serde(default)]
    pub carriers: Vec<CarrierSpec>,
    /// `[[carrier_rules]]`: the shop's ordered rules choosing a carrier service (the last one
    /// the fallback); none: the fastest service that fits.
    #[serde(default)]
    pub carrier_rules: Vec<Rule>,
    /// `[[warehouses]]`: where stock is kept. None configured: the service runs "open" (any
    /// warehouse id of valid shape is taken as given, as before warehouses were configured).
    #[serde(default)]
    pub warehouses: Vec<Warehouse>,
    /// `[allocation]`: how orders are allocated to the warehouses.
    #[serde(default)]
    pub allocation: AllocationPolicy,
    /// Days (YYYY-MM-DD) carriers do not move parcels unless a carrier has `holidays` of its
    /// own (and warehouses do not work, when none are configured).
    #[serde(default)]
    pub holidays: Vec<chrono::NaiveDate>,
    #[serde(default)]
    pub notifications: NotifierConfig,
    /// `[stock_alerts]`: bounds and timing of low-stock alerts and back-in-stock messages.
    #[serde(default)]
    pub stock_alerts: StockAlertsSection,
    /// `[delivery_exceptions]`: what happens after a failed delivery.
    #[serde(default)]
    pub delivery_exceptions: DeliveryExceptionsSection,
    #[serde(default)]
    pub log: LogConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub bind: String,
    /// HTTP worker threads; 0 means one per core.
    #[serde(default)]
    pub workers: usize,
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
}

fn default_max_body() -> usize {
    64 * 1024
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Which storage backend to open (see `wiring::STORAGE_BACKENDS`); `sled` by default.
    #[serde(default = "default_backend")]
    pub backend: String,
    pub data_dir: PathBuf,
    #[serde(default = "default_cache_mb")]
    pub cache_mb: u64,
    /// The PostgreSQL backend's settings (`backend = "postgres"`).
    #[serde(default)]
    pub postgres: Option<PostgresSection>,
}

/// `[storage.postgres]`: where the database is and how this node takes part.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresSection {
    /// `postgres://user:password@host:port/database`.
    pub url: String,
    /// Connections for reads and stock writes; the commit lanes have their own.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// This node's name among the nodes sharing the database: stable across restarts, unique
    /// among live nodes. Default: the host name and the port of `server.bind`.
    #[serde(default)]
    pub node_id: Option<String>,
    /// A node silent for this long is dead and its pending work is taken over.
    #[serde(default = "default_lease_secs")]
    pub lease_secs: u64,
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_ms: u64,
    /// Connections committing batches of transitions, one after another each.
    #[serde(default = "default_commit_lanes")]
    pub commit_lanes: usize,
    /// Certificate authorities (PEM) to trust for the database's TLS certificate, besides the
    /// system's. Whether TLS is used is the url's `sslmode` (`prefer` by default, `require`).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn default_pool_size() -> usize {
    8
}

fn default_lease_secs() -> u64 {
    10
}

fn default_heartbeat_ms() -> u64 {
    2000
}

fn default_commit_lanes() -> usize {
    2
}

fn default_backend() -> String {
    "sled".into()
}

fn default_cache_mb() -> u64 {
    64
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSection {
    pub payment_timeout_secs: i64,
    pub return_window_days: u32,
    pub idle_timeout_secs: u64,
    pub order_mailbox: usize,
    /// Threads running order actors; 0 means one per core.
    pub actor_threads: usize,
    pub effect_wait_ms: u64,
    pub send_timeout_ms: u64,
    pub timer_tick_ms: u64,
}

impl Default for EngineSection {
    fn default() -> Self {
        let d = EngineConfig::default();
        EngineSection {
            payment_timeout_secs: d.payment_timeout_secs,
            return_window_days: d.return_window_days,
            idle_timeout_secs: d.idle_timeout.as_secs(),
            order_mailbox: d.order_mailbox,
            actor_threads: 0,
            effect_wait_ms: d.effect_wait.as_millis() as u64,
            send_timeout_ms: d.send_timeout.as_millis() as u64,
            timer_tick_ms: d.timer_tick.as_millis() as u64,
        }
    }
}

/// `[delivery_exceptions]`: how long a failed delivery waits for the shop's or the customer's
/// answer before the parcel goes back to its warehouse, and after how many failed attempts it
/// goes back without asking.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryExceptionsSection {
    /// Seconds (48 hours by default; up to 30 days).
    pub answer_within_secs: i64,
    /// 1 to 10 (3 by default).
    pub max_attempts: u32,
}

impl Default for DeliveryExceptionsSection {
    fn default() -> Self {
        let d = orderly_actors::domain::ExceptionPolicy::default();
        DeliveryExceptionsSection {
            answer_within_secs: d.answer_within_secs,
            max_attempts: d.max_attempts,
        }
    }
}

/// The largest `stock_alerts.max_subscriptions_per_sku` accepted.
pub const MAX_SUBSCRIPTIONS_BOUND: usize = 1_000_000;

/// `[stock_alerts]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StockAlertsSection {
    /// Most back-in-stock subscriptions waiting for one sku (more are refused with 409).
    pub max_subscriptions_per_sku: usize,
    /// With several nodes (PostgreSQL): how often each node looks at every reorder point and
    /// subscription again, so an alert a node that died owed is sent by another.
    pub reconcile_secs: u64,
}

impl Default for StockAlertsSection {
    fn default() -> Self {
        let d = StockAlertsConfig::default();
        StockAlertsSection {
            max_subscriptions_per_sku: d.max_subscriptions_per_sku,
            reconcile_secs: d.reconcile_interval.as_secs(),
        }
    }
}

/// Bearer keys per role. Carrier keys are per carrier: a carrier may only post its own events.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    #[serde(default)]
    pub storefront: Vec<String>,
    /// Warehouse terminal keys: a plain key may act for every warehouse; a bound key
    /// (`{ key = "...", warehouses = ["ams"] }`) only for the warehouses it names.
    #[serde(default)]
    pub warehouse: Vec<WarehouseKey>,
    #[serde(default)]
    pub admin: Vec<String>,
    #[serde(default)]
    pub carriers: BTreeMap<String, Vec<String>>,
}

/// One entry of `auth.warehouse`: a plain key (every warehouse, the form from before
/// warehouses were configured) or a key bound to some warehouses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum WarehouseKey {
    Any(String),
    Bound(BoundWarehouseKey),
}

/// `{ key = "...", warehouses = ["ams", ...] }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoundWarehouseKey {
    pub key: String,
    pub warehouses: Vec<String>,
}

impl WarehouseKey {
    pub fn key(&self) -> &str {
        match self {
            WarehouseKey::Any(k) => k,
            WarehouseKey::Bound(b) => &b.key,
        }
    }

    /// The warehouses the key may act for; `None`: every one.
    pub fn warehouses(&self) -> Option<&[String]> {
        match self {
            WarehouseKey::Any(_) => None,
            WarehouseKey::Bound(b) => Some(&b.warehouses),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `tracing` filter, e.g. `info` or `orderly=debug,info`. `RUST_LOG` wins if set.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

impl Config {
    /// Reads the file and the environment; one line naming the offending key on error.
    pub fn load(path: &Path) -> Result<Config, String> {
        if !path.exists() {
            return Err(format!("config file {} does not exist", path.display()));
        }
        let config: Config = Figment::from(Toml::file(path))
            .merge(Env::prefixed("ORDERLY_").split("__"))
            .extract()
            .map_err(|e| one_line(&e))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if self.server.bind.parse::<std::net::SocketAddr>().is_err() {
            return Err(format!(
                "server.bind: '{}' is not an address like 127.0.0.1:8080",
                self.server.bind
            ));
        }
        if self.server.max_body_bytes < 1024 || self.server.max_body_bytes > 16 << 20 {
            return Err("server.max_body_bytes: must be between 1024 and 16777216".into());
        }
        if !crate::wiring::STORAGE_BACKENDS.contains(&self.storage.backend.as_str()) {
            return Err(format!(
                "storage.backend: '{}' is not a storage backend of this build (known: {})",
                self.storage.backend,
                crate::wiring::STORAGE_BACKENDS.join(", ")
            ));
        }
        if self.storage.cache_mb == 0 {
            return Err("storage.cache_mb: must be at least 1".into());
        }
        if self.storage.backend == "postgres" {
            let Some(pg) = &self.storage.postgres else {
                return Err(
                    "storage.postgres.url: required when storage.backend is 'postgres'".into(),
                );
            };
            if pg.url.trim().is_empty() {
                return Err("storage.postgres.url: must not be empty".into());
            }
            if pg.pool_size == 0 || pg.commit_lanes == 0 {
                return Err(
                    "storage.postgres: pool_size and commit_lanes must be at least 1".into(),
                );
            }
            if pg.heartbeat_ms == 0 || pg.lease_secs * 1000 < 2 * pg.heartbeat_ms {
                return Err(
                    "storage.postgres: lease_secs must be at least twice heartbeat_ms (and heartbeat_ms positive)".into(),
                );
            }
            if pg
                .node_id
                .as_deref()
                .is_some_and(|n| n.trim().is_empty() || n.len() > 128)
            {
                return Err("storage.postgres.node_id: 1 to 128 characters".into());
            }
        }
        let e = &self.engine;
        if e.payment_timeout_secs <= 0 {
            return Err("engine.payment_timeout_secs: must be positive".into());
        }
        if e.order_mailbox == 0 {
            return Err("engine.order_mailbox: must be at least 1".into());
        }
        if e.timer_tick_ms == 0 || e.send_timeout_ms == 0 || e.idle_timeout_secs == 0 {
            return Err(
                "engine: timer_tick_ms, send_timeout_ms and idle_timeout_secs must be positive"
                    .into(),
            );
        }
        let a = &self.stock_alerts;
        if !(1..=MAX_SUBSCRIPTIONS_BOUND).contains(&a.max_subscriptions_per_sku) {
            return Err(format!(
                "stock_alerts.max_subscriptions_per_sku: must be between 1 and {MAX_SUBSCRIPTIONS_BOUND}, got {}",
                a.max_subscriptions_per_sku
            ));
        }
        if a.reconcile_secs == 0 {
            return Err("stock_alerts.reconcile_secs: must be at least 1".into());
        }
        self.validate_warehouses()?;
        self.validate_delivery_exceptions()?;
        let warehouse_keys: Vec<String> = self
            .auth
            .warehouse
            .iter()
            .map(|k| k.key().to_string())
            .collect();
        let roles = [
            ("storefront", &self.auth.storefront),
            ("warehouse", &warehouse_keys),
            ("admin", &self.auth.admin),
        ];
        for (role, keys) in roles {
            check_keys(&format!("auth.{role}"), keys)?;
        }
        self.validate_bound_keys()?;
        for (carrier, keys) in &self.auth.carriers {
            check_keys(&format!("auth.carriers.{carrier}"), keys)?;
            if !self.carriers.iter().any(|c| &c.id == carrier) {
                return Err(format!(
                    "auth.carriers.{carrier}: no carrier with id '{carrier}' is configured"
                ));
            }
        }
        for (i, c) in self.carriers.iter().enumerate() {
            if c.id.is_empty()
                || !c
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(format!(
                    "carriers[{i}].id: must be letters, digits, '-' or '_'"
                ));
            }
            if c.services.is_empty() {
                return Err(format!(
                    "carriers[{i}].services: at least one service is required"
                ));
            }
        }
        self.shipping_network()?;
        self.notifications.validate()?;
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(format!(
                "log.format: '{}' must be 'text' or 'json'",
                self.log.format
            ));
        }
        Ok(())
    }

    /// `[[warehouses]]`: each one's own rules (a real IANA time zone among them), ids unique.
    fn validate_delivery_exceptions(&self) -> Result<(), String> {
        let d = &self.delivery_exceptions;
        if !(1..=30 * 86_400).contains(&d.answer_within_secs) {
            return Err(format!(
                "delivery_exceptions.answer_within_secs: {} is not between 1 and 2592000 (30 days)",
                d.answer_within_secs
            ));
        }
        if !(1..=10).contains(&d.max_attempts) {
            return Err(format!(
                "delivery_exceptions.max_attempts: {} is not between 1 and 10",
                d.max_attempts
            ));
        }
        Ok(())
    }

    fn validate_warehouses(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for (i, w) in self.warehouses.iter().enumerate() {
            w.validate().map_err(|m| format!("warehouses[{i}].{m}"))?;
            if w.name.trim().is_empty() || w.name.chars().count() > 200 {
                return Err(format!("warehouses[{i}].name: 1 to 200 characters"));
            }
            if !seen.insert(w.id.as_str()) {
                return Err(format!("warehouses[{i}].id '{}': configured twice", w.id));
            }
        }
        Ok(())
    }

    /// A bound warehouse key names at least one warehouse, each configured (or, running
    /// open, of a valid shape).
    fn validate_bound_keys(&self) -> Result<(), String> {
        for (i, k) in self.auth.warehouse.iter().enumerate() {
            let Some(bound) = k.warehouses() else {
                continue;
            };
            let field = format!("auth.warehouse[{i}].warehouses");
            if bound.is_empty() {
                return Err(format!(
                    "{field}: name at least one warehouse (a plain key may act for all)"
                ));
            }
            for w in bound {
                let known = if self.warehouses.is_empty() {
                    is_warehouse_id(w)
                } else {
                    self.warehouses.iter().any(|c| &c.id == w)
                };
                if !known {
                    return Err(format!("{field}: '{w}' is not a configured warehouse"));
                }
            }
        }
        Ok(())
    }

    /// The warehouse a tool stocks when it needs one: the first configured by priority (then
    /// id), `None` when the service runs open.
    pub fn first_warehouse(&self) -> Option<&str> {
        self.warehouses
            .iter()
            .min_by(|a, b| (a.priority, &a.id).cmp(&(b.priority, &b.id)))
            .map(|w| w.id.as_str())
    }

    /// The carriers, their calendars and rates, the carrier rules and the warehouses as one
    /// checked value (see `domain::shipping::network`), or what is wrong with them.
    pub fn shipping_network(&self) -> Result<Network, String> {
        Network::new(
            self.carriers.clone(),
            self.carrier_rules.clone(),
            self.warehouses.clone(),
            self.holidays.clone(),
        )
    }

    pub fn engine_config(&self) -> EngineConfig {
        let e = &self.engine;
        let threads = if e.actor_threads == 0 {
            num_cpus()
        } else {
            e.actor_threads
        };
        EngineConfig {
            payment_timeout_secs: e.payment_timeout_secs,
            return_window_days: e.return_window_days,
            idle_timeout: Duration::from_secs(e.idle_timeout_secs),
            order_mailbox: e.order_mailbox,
            arbiters: threads,
            effect_wait: Duration::from_millis(e.effect_wait_ms),
            send_timeout: Duration::from_millis(e.send_timeout_ms),
            timer_tick: Duration::from_millis(e.timer_tick_ms),
            takeover_interval: EngineConfig::default().takeover_interval,
            stock_alerts: StockAlertsConfig {
                max_subscriptions_per_sku: self.stock_alerts.max_subscriptions_per_sku,
                reconcile_interval: Duration::from_secs(self.stock_alerts.reconcile_secs),
            },
            shipping: Arc::new(
                self.shipping_network()
                    .expect("checked by validate before the engine is configured"),
            ),
            notifications: self.notifications.clone(),
            warehouses: self.warehouses.clone(),
            allocation: self.allocation,
            exceptions: orderly_actors::domain::ExceptionPolicy {
                answer_within_secs: self.delivery_exceptions.answer_within_secs,
                max_attempts: self.delivery_exceptions.max_attempts,
            },
        }
    }
}

pub fn num_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// Warehouse ids appear in keys and URLs: 1-64 letters, digits, '-' or '_' (as
/// `Warehouse::validate` requires of configured ones).
pub fn is_warehouse_id(w: &str) -> bool {
    !w.is_empty()
        && w.len() <= 64
        && w.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn check_keys(field: &str, keys: &[String]) -> Result<(), String> {
    for k in keys {
        if k.len() < 16 || k.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "{field}: keys must be at least 16 characters without white space"
            ));
        }
    }
    Ok(())
}

/// Figment errors can span lines; the operator gets one.
fn one_line(e: &figment::Error) -> String {
    let first = e
        .clone()
        .into_iter()
        .next()
        .map(|e| e.to_string())
        .unwrap_or_else(|| e.to_string());
    first.replace('\n', " ").replace("key \"default.", "key \"")
}
