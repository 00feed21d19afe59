//! A local webhook receiver: an HTTP server on a free port that answers every request and
//! keeps what it saw: every request with its headers and body ([`Receiver::start`]), or only
//! the count and the distinct `webhook-id`s ([`Receiver::counting`], for long runs).

use actix_web::web::Bytes;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// One request the receiver got, and what it answered.
#[derive(Debug, Clone)]
pub struct Hook {
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: String,
    pub answered: u16,
}

impl Hook {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The `webhook-id` header (Standard Webhooks), or "".
    pub fn id(&self) -> String {
        self.headers.get("webhook-id").cloned().unwrap_or_default()
    }
}

struct State {
    fail_first: usize,
    record: bool,
    count: AtomicUsize,
    hooks: Mutex<Vec<Hook>>,
    ids: Mutex<HashSet<String>>,
}

/// The running receiver. Answers 500 to the first `fail_first` requests (`usize::MAX`: to all
/// of them) and 200 after that.
pub struct Receiver {
    /// Where to send webhooks: `http://127.0.0.1:<port>/hook`.
    pub url: String,
    state: Arc<State>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    /// A receiver that records every request (headers, body, answer).
    pub async fn start(fail_first: usize) -> Result<Receiver, String> {
        Receiver::start_with(fail_first, true).await
    }

    /// A receiver that always answers 200 and keeps only the count of requests and the set of
    /// distinct `webhook-id`s.
    pub async fn counting() -> Result<Receiver, String> {
        Receiver::start_with(0, false).await
    }

    async fn start_with(fail_first: usize, record: bool) -> Result<Receiver, String> {
        let state = Arc::new(State {
            fail_first,
            record,
            count: AtomicUsize::new(0),
            hooks: Mutex::new(Vec::new()),
            ids: Mutex::new(HashSet::new()),
        });
        let s = state.clone();
        let server = HttpServer::new(move || {
            let state = s.clone();
            App::new().default_service(web::to(move |req: HttpRequest, body: Bytes| {
                let state = state.clone();
                async move { state.receive(&req, &body) }
            }))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .bind(("127.0.0.1", 0))
        .map_err(|e| format!("cannot bind the webhook receiver: {e}"))?;
        let addr = server.addrs()[0];
        let running = server.run();
        let handle = running.handle();
        actix_rt::spawn(running);
        Ok(Receiver {
            url: format!("http://{addr}/hook"),
            state,
            handle,
        })
    }

    /// Every request so far (empty for a counting receiver).
    pub fn hooks(&self) -> Vec<Hook> {
        lock(&self.state.hooks).clone()
    }

    /// Requests received, retries and duplicates included.
    pub fn raw_count(&self) -> u64 {
        self.state.count.load(Ordering::SeqCst) as u64
    }

    /// Distinct `webhook-id`s received and answered 200.
    pub fn distinct_ids(&self) -> u64 {
        lock(&self.state.ids).len() as u64
    }

    /// A `[notifications]` config section pointing at this receiver, with short backoffs.
    pub fn notifications_toml(&self, max_attempts: u32, secret: &str) -> String {
        format!(
            "[notifications]\nmax_attempts = {max_attempts}\nbackoff_base_ms = 20\nbackoff_cap_ms = 100\n[notifications.webhook]\nurl = \"{}\"\nsecret = \"{secret}\"\ntimeout_ms = 2000\n",
            self.url
        )
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

impl State {
    fn receive(&self, req: &HttpRequest, body: &Bytes) -> HttpResponse {
        let n = self.count.fetch_add(1, Ordering::SeqCst);
        let answered = if n < self.fail_first { 500 } else { 200 };
        if let Some(id) = req
            .headers()
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .filter(|_| answered == 200)
        {
            lock(&self.ids).insert(id.to_string());
        }
        if self.record {
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
            lock(&self.hooks).push(Hook {
                headers,
                body: String::from_utf8_lossy(body).into_owned(),
                answered,
            });
        }
        if answered == 500 {
            HttpResponse::InternalServerError().body("receiver told to fail")
        } else {
            HttpResponse::Ok().body("ok")
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
