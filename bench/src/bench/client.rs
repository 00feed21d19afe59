//! The bench's HTTP side: one awc client, requests described by [`Req`], and per-endpoint
//! accounting in a [`Recorder`] (latency histogram of the 2xx answers in microseconds, errors
//! by status code or transport failure, and a few error bodies to show).

use actix_web::http::Method;
use actix_web::web::Bytes;
use hdrhistogram::Histogram;
use serde::de::DeserializeOwned;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Highest latency the histograms hold (longer ones are clamped to it): two minutes.
const MAX_MICROS: u64 = 120_000_000;
/// Error bodies kept per endpoint, to show what went wrong.
const MAX_SAMPLES: usize = 3;

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds")
}

pub fn micros(d: Duration) -> u64 {
    d.as_micros().min(MAX_MICROS as u128) as u64
}

/// One request: method, path below the base URL, bearer key, Idempotency-Key and JSON body.
pub struct Req<'a> {
    method: Method,
    path: String,
    auth: Option<&'a str>,
    idempotency: Option<String>,
    body: Option<Vec<u8>>,
}

impl<'a> Req<'a> {
    pub fn get(path: impl Into<String>) -> Self {
        Req {
            method: Method::GET,
            path: path.into(),
            auth: None,
            idempotency: None,
            body: None,
        }
    }

    pub fn post(path: impl Into<String>, body: &serde_json::Value) -> Self {
        Req {
            method: Method::POST,
            path: path.into(),
            auth: None,
            idempotency: None,
            body: Some(body.to_string().into_bytes()),
        }
    }

    pub fn put(path: impl Into<String>, body: &serde_json::Value) -> Self {
        Req {
            method: Method::PUT,
            ..Req::post(path, body)
        }
    }

    /// `auth` is the whole header value, `Bearer …`.
    pub fn auth(mut self, auth: &'a str) -> Self {
        self.auth = Some(auth);
        self
    }

    pub fn idempotency(mut self, key: String) -> Self {
        self.idempotency = Some(key);
        self
    }
}

pub enum Failure {
    Status(u16, Bytes),
    Transport(&'static str, String),
}

pub struct Http {
    client: awc::Client,
    base: String,
}

impl Http {
    /// `max_connections` bounds the pool; a request waiting for a connection waits inside its
    /// measured latency, as it would in a real client.
    pub fn new(base: &str, max_connections: usize, timeout: Duration) -> Http {
        let connector = awc::Connector::new()
            .limit(max_connections)
            .timeout(Duration::from_secs(10));
        let client = awc::Client::builder()
            .connector(connector)
            .timeout(timeout)
            .disable_redirects()
            .finish();
        Http {
            client,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    pub async fn send(&self, req: Req<'_>) -> Result<Bytes, Failure> {
        let mut r = self
            .client
            .request(req.method, format!("{}{}", self.base, req.path));
        if let Some(a) = req.auth {
            r = r.insert_header(("authorization", a));
        }
        if let Some(k) = req.idempotency {
            r = r.insert_header(("idempotency-key", k));
        }
        let sent = match req.body {
            Some(b) => {
                r.insert_header(("content-type", "application/json"))
                    .send_body(b)
                    .await
            }
            None => r.send().await,
        };
        let mut resp = sent.map_err(|e| {
            let kind = match e {
                awc::error::SendRequestError::Timeout => "timeout",
                awc::error::SendRequestError::Connect(_) => "connect error",
                _ => "transport error",
            };
            Failure::Transport(kind, e.to_string())
        })?;
        let status = resp.status().as_u16();
        let body = resp
            .body()
            .limit(64 << 20)
            .await
            .map_err(|e| Failure::Transport("body error", e.to_string()))?;
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(Failure::Status(status, body))
        }
    }

    /// Sends `req` and records the outcome under `endpoint`, the latency counted from `since`
    /// (the actual send time in a closed loop, the intended one in an open loop). The body of a
    /// 2xx answer, or None after recording the error.
    pub async fn call(
        &self,
        rec: &Recorder,
        endpoint: &str,
        req: Req<'_>,
        since: Instant,
    ) -> Option<Bytes> {
        match self.send(req).await {
            Ok(body) => {
                rec.ok(endpoint, since.elapsed());
                Some(body)
            }
            Err(Failure::Status(code, body)) => {
                rec.error(endpoint, code.to_string(), || {
                    String::from_utf8_lossy(&body).into_owned()
                });
                None
            }
            Err(Failure::Transport(kind, msg)) => {
                rec.error(endpoint, kind.to_string(), || msg);
                None
            }
        }
    }

    /// [`Http::call`], then decodes the JSON answer (an undecodable one is an error too).
    pub async fn json<T: DeserializeOwned>(
        &self,
        rec: &Recorder,
        endpoint: &str,
        req: Req<'_>,
        since: Instant,
    ) -> Option<T> {
        let body = self.call(rec, endpoint, req, since).await?;
        match serde_json::from_slice(&body) {
            Ok(v) => Some(v),
            Err(e) => {
                rec.error(endpoint, "bad body".into(), || {
                    format!("{e}: {}", String::from_utf8_lossy(&body))
                });
                None
            }
        }
    }
}

pub struct Endpoint {
    pub name: String,
    pub hist: Histogram<u64>,
    pub errors: BTreeMap<String, u64>,
    pub samples: Vec<String>,
}

impl Endpoint {
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Per-endpoint results, in the order endpoints were first seen. Single-threaded (the bench
/// runs in one actix System), so shared by `Rc`.
#[derive(Clone, Default)]
pub struct Recorder(Rc<RefCell<Vec<Endpoint>>>);

impl Recorder {
    fn with<R>(&self, name: &str, f: impl FnOnce(&mut Endpoint) -> R) -> R {
        let mut all = self.0.borrow_mut();
        let i = match all.iter().position(|e| e.name == name) {
            Some(i) => i,
            None => {
                all.push(Endpoint {
                    name: name.to_string(),
                    hist: histogram(),
                    errors: BTreeMap::new(),
                    samples: Vec::new(),
                });
                all.len() - 1
            }
        };
        f(&mut all[i])
    }

    /// Makes the endpoint appear in the table (in this position) even if nothing is recorded.
    pub fn declare(&self, name: &str) {
        self.with(name, |_| ());
    }

    pub fn ok(&self, name: &str, latency: Duration) {
        self.with(name, |e| e.hist.saturating_record(micros(latency).max(1)));
    }

    pub fn error(&self, name: &str, kind: String, sample: impl FnOnce() -> String) {
        self.with(name, |e| {
            if e.samples.len() < MAX_SAMPLES {
                let mut s = format!("{kind}: {}", sample());
                if s.len() > 300 {
                    let mut cut = 300;
                    while !s.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    s.truncate(cut);
                    s.push('…');
                }
                e.samples.push(s);
            }
            *e.errors.entry(kind).or_default() += 1;
        });
    }

    pub fn ok_count(&self, name: &str) -> u64 {
        self.0
            .borrow()
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.hist.len())
            .unwrap_or(0)
    }

    pub fn error_count(&self, name: &str) -> u64 {
        self.0
            .borrow()
            .iter()
            .find(|e| e.name == name)
            .map(Endpoint::error_count)
            .unwrap_or(0)
    }

    pub fn total_errors(&self) -> u64 {
        self.0.borrow().iter().map(Endpoint::error_count).sum()
    }

    /// A percentile in milliseconds, if the endpoint has any successful answers.
    pub fn percentile_ms(&self, name: &str, q: f64) -> Option<f64> {
        let all = self.0.borrow();
        let e = all.iter().find(|e| e.name == name)?;
        (!e.hist.is_empty()).then(|| e.hist.value_at_quantile(q) as f64 / 1000.0)
    }

    pub fn take(&self) -> Vec<Endpoint> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}
