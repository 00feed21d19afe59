//! A local messaging provider: an HTTP server on a free port that plays a Twilio-style SMS API
//! or the WhatsApp Cloud API for the tests. It answers a script of failures first (a 429, a
//! 500, a 200 with garbage: whatever the test gives), then accepts every message with an id
//! in the shape of the API it plays; a number it is told to refuse gets a 400 (the provider
//! refusing for good). It keeps every request it got.

use actix_web::web::Bytes;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Which API it plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `201 {"sid": "SM…"}`.
    Twilio,
    /// `200 {"messages": [{"id": "wamid.…"}]}`.
    WhatsappCloud,
}

/// One request the provider got.
#[derive(Debug, Clone)]
pub struct Request {
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: String,
    /// What it answered.
    pub status: u16,
    /// The id it gave, when it accepted.
    pub id: Option<String>,
}

impl Request {
    /// The form fields of a form-encoded body.
    pub fn form(&self) -> HashMap<String, String> {
        self.body
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (decode(k), decode(v)))
            .collect()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct State {
    shape: Shape,
    script: Mutex<VecDeque<(u16, String)>>,
    refuse: Option<String>,
    requests: Mutex<Vec<Request>>,
}

/// The running provider.
pub struct LocalProvider {
    /// Where to post messages: `http://127.0.0.1:<port>/messages` (`https://` with TLS).
    pub url: String,
    /// With TLS: the PEM file of its self-signed certificate, for the client to trust (e.g.
    /// as `SSL_CERT_FILE`, which the service's TLS roots honour).
    pub certificate: Option<std::path::PathBuf>,
    state: Arc<State>,
    handle: actix_web::dev::ServerHandle,
    _dir: Option<tempfile::TempDir>,
}

impl LocalProvider {
    /// Starts one playing `shape`, answering `script` (status, body) to its first requests
    /// and refusing messages to `refuse` with a 400.
    pub async fn start(
        shape: Shape,
        script: &[(u16, &str)],
        refuse: Option<&str>,
    ) -> Result<LocalProvider, String> {
        LocalProvider::start_with(shape, script, refuse, false).await
    }

    /// The same over HTTPS, with a self-signed certificate for 127.0.0.1 made for it.
    pub async fn start_tls(
        shape: Shape,
        script: &[(u16, &str)],
        refuse: Option<&str>,
    ) -> Result<LocalProvider, String> {
        LocalProvider::start_with(shape, script, refuse, true).await
    }

    async fn start_with(
        shape: Shape,
        script: &[(u16, &str)],
        refuse: Option<&str>,
        tls: bool,
    ) -> Result<LocalProvider, String> {
        let state = Arc::new(State {
            shape,
            script: Mutex::new(script.iter().map(|(s, b)| (*s, b.to_string())).collect()),
            refuse: refuse.map(String::from),
            requests: Mutex::new(Vec::new()),
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
        .shutdown_timeout(0);
        let (server, certificate, dir) = if tls {
            let (config, pem) = self_signed()?;
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let path = dir.path().join("provider.pem");
            std::fs::write(&path, pem).map_err(|e| e.to_string())?;
            let server = server
                .bind_rustls_0_23(("127.0.0.1", 0), config)
                .map_err(|e| format!("cannot bind the provider: {e}"))?;
            (server, Some(path), Some(dir))
        } else {
            let server = server
                .bind(("127.0.0.1", 0))
                .map_err(|e| format!("cannot bind the provider: {e}"))?;
            (server, None, None)
        };
        let addr = server.addrs()[0];
        let running = server.run();
        let handle = running.handle();
        actix_rt::spawn(running);
        let scheme = if tls { "https" } else { "http" };
        Ok(LocalProvider {
            url: format!("{scheme}://{addr}/messages"),
            certificate,
            state,
            handle,
            _dir: dir,
        })
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.state
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The requests it accepted.
    pub fn accepted(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.id.is_some())
            .collect()
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// A TLS server configuration with a fresh self-signed certificate for 127.0.0.1, and the
/// certificate as PEM.
fn self_signed() -> Result<(rustls::ServerConfig, String), String> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])
        .map_err(|e| e.to_string())?;
    let pem = made.cert.pem();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(made.cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.key_pair.serialize_der())),
        )
        .map_err(|e| e.to_string())?;
    Ok((config, pem))
}

impl State {
    fn receive(&self, req: &HttpRequest, body: &Bytes) -> HttpResponse {
        let text = String::from_utf8_lossy(body).into_owned();
        let headers: HashMap<String, String> = req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let scripted = self
            .script
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front();
        let to = match self.shape {
            Shape::Twilio => Request {
                headers: HashMap::new(),
                body: text.clone(),
                status: 0,
                id: None,
            }
            .form()
            .get("To")
            .cloned(),
            Shape::WhatsappCloud => serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["to"].as_str().map(|t| format!("+{t}"))),
        };
        let (status, answer, id) = match (scripted, &self.refuse) {
            (Some((status, body)), _) => (status, body, None),
            (None, Some(r)) if to.as_deref() == Some(r.as_str()) => (
                400,
                r#"{"code": 21211, "message": "The 'To' number is not a valid phone number."}"#
                    .to_string(),
                None,
            ),
            (None, _) => {
                let n = requests.len() + 1;
                match self.shape {
                    Shape::Twilio => {
                        let id = format!("SM{n:032}");
                        (
                            201,
                            serde_json::json!({"sid": id, "status": "queued"}).to_string(),
                            Some(id),
                        )
                    }
                    Shape::WhatsappCloud => {
                        let id = format!("wamid.{n:020}");
                        (
                            200,
                            serde_json::json!({"messaging_product": "whatsapp", "messages": [{"id": id}]})
                                .to_string(),
                            Some(id),
                        )
                    }
                }
            }
        };
        requests.push(Request {
            headers,
            body: text,
            status,
            id,
        });
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
            .content_type("application/json")
            .body(answer)
    }
}
