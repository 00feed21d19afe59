//! A local carrier: an HTTP server on a free port that speaks the carrier side of Orderly's
//! carrier protocol (README, "Carrier integrations"), for tests that book with a real HTTP
//! carrier.
//!
//! `POST /shipments` books once per `shipment_id` (the body's, which must equal the
//! `Idempotency-Key` header): a repeat answers the same tracking number. The first `fail_first`
//! booking requests are answered 503 (a carrier having a bad minute); a request without the
//! expected `Authorization: Bearer <key>` gets 401. Tracking numbers are `LC` followed by a
//! counter. Every booking request is kept with what it was answered. `GET
//! /shipments/{tracking number}/events` answers the events a test added for it
//! ([`LocalCarrier::add_event`]) and counts the polls. `POST /shipments/{id}/instructions`
//! (what to do after a failed delivery) is kept once per `Idempotency-Key` and answered 202.

use actix_web::web::Bytes;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One booking request the carrier got, and what it answered.
#[derive(Debug, Clone)]
pub struct BookingRequest {
    pub idempotency_key: Option<String>,
    pub body: Value,
    pub answered: u16,
}

struct State {
    key: String,
    fail_first: usize,
    /// What to answer a booking after the failures: the date it names, if any.
    estimated_delivery: Option<String>,
    /// Answer every booking with this status and body instead (a carrier refusing, or
    /// answering garbage).
    fixed: Option<(u16, Value)>,
    requests: Mutex<Vec<BookingRequest>>,
    /// shipment id → tracking number.
    booked: Mutex<HashMap<String, String>>,
    /// tracking number → the events a poll answers, and how many polls asked for them.
    events: Mutex<HashMap<String, (Vec<Value>, usize)>>,
    /// Shipment ids whose booking was cancelled, in the order asked (repeats kept).
    cancelled: Mutex<Vec<String>>,
    /// Instructions after failed deliveries: (shipment id, idempotency key, body), once per
    /// key.
    instructions: Mutex<Vec<(String, String, Value)>>,
    /// What cancellations are answered (204 unless a test says otherwise).
    cancel_status: Mutex<u16>,
}

/// The running carrier.
pub struct LocalCarrier {
    /// Its base URL: `http://127.0.0.1:<port>`.
    pub url: String,
    state: Arc<State>,
    handle: actix_web::dev::ServerHandle,
}

impl LocalCarrier {
    /// A carrier expecting `key`, failing the first `fail_first` bookings with 503, answering
    /// `estimated_delivery` (a date) with each booking when given.
    pub async fn start(
        key: &str,
        fail_first: usize,
        estimated_delivery: Option<&str>,
    ) -> Result<LocalCarrier, String> {
        LocalCarrier::start_with(key, fail_first, estimated_delivery, None).await
    }

    /// A carrier expecting `key` that answers every booking `status` with `body`.
    pub async fn answering(key: &str, status: u16, body: Value) -> Result<LocalCarrier, String> {
        LocalCarrier::start_with(key, 0, None, Some((status, body))).await
    }

    async fn start_with(
        key: &str,
        fail_first: usize,
        estimated_delivery: Option<&str>,
        fixed: Option<(u16, Value)>,
    ) -> Result<LocalCarrier, String> {
        let state = Arc::new(State {
            key: key.to_string(),
            fail_first,
            estimated_delivery: estimated_delivery.map(str::to_string),
            fixed,
            requests: Mutex::new(Vec::new()),
            booked: Mutex::new(HashMap::new()),
            events: Mutex::new(HashMap::new()),
            cancelled: Mutex::new(Vec::new()),
            instructions: Mutex::new(Vec::new()),
            cancel_status: Mutex::new(204),
        });
        let s = state.clone();
        let server = HttpServer::new(move || {
            let (state, polled, cancels, told) = (s.clone(), s.clone(), s.clone(), s.clone());
            App::new()
                .route(
                    "/shipments",
                    web::post().to(move |req: HttpRequest, body: Bytes| {
                        let state = state.clone();
                        async move { state.book(&req, &body) }
                    }),
                )
                .route(
                    "/shipments/{id}",
                    web::delete().to(move |id: web::Path<String>| {
                        let state = cancels.clone();
                        async move {
                            state.cancelled.lock().expect("lock").push(id.into_inner());
                            let status = *state.cancel_status.lock().expect("lock");
                            HttpResponse::build(
                                actix_web::http::StatusCode::from_u16(status).expect("status"),
                            )
                            .finish()
                        }
                    }),
                )
                .route(
                    "/shipments/{id}/instructions",
                    web::post().to(
                        move |req: HttpRequest, id: web::Path<String>, body: Bytes| {
                            let state = told.clone();
                            async move { state.instruct(&req, &id, &body) }
                        },
                    ),
                )
                .route(
                    "/shipments/{tn}/events",
                    web::get().to(move |req: HttpRequest, tn: web::Path<String>| {
                        let state = polled.clone();
                        async move { state.poll(&req, &tn) }
                    }),
                )
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .bind(("127.0.0.1", 0))
        .map_err(|e| format!("cannot bind the local carrier: {e}"))?;
        let url = format!("http://{}", server.addrs()[0]);
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Ok(LocalCarrier { url, state, handle })
    }

    /// Every booking request so far.
    pub fn requests(&self) -> Vec<BookingRequest> {
        self.state.requests.lock().expect("lock").clone()
    }

    /// Adds an event (JSON as a pushed event's, without `tracking_number`) to what polls for
    /// `tracking_number` answer.
    pub fn add_event(&self, tracking_number: &str, event: Value) {
        let mut events = self.state.events.lock().expect("lock");
        events
            .entry(tracking_number.to_string())
            .or_default()
            .0
            .push(event);
    }

    /// How many polls asked for `tracking_number`'s events.
    pub fn polls(&self, tracking_number: &str) -> usize {
        let events = self.state.events.lock().expect("lock");
        events.get(tracking_number).map_or(0, |(_, n)| *n)
    }

    /// Answers every cancellation from now on with `status` (e.g. 503: a carrier down).
    pub fn answer_cancellations_with(&self, status: u16) {
        *self.state.cancel_status.lock().expect("lock") = status;
    }

    /// The shipment ids whose bookings were cancelled (`DELETE /shipments/{id}`), as asked.
    pub fn cancelled(&self) -> Vec<String> {
        self.state.cancelled.lock().expect("lock").clone()
    }

    /// The instructions received after failed deliveries, once per idempotency key, in the
    /// order first received: (shipment id, body).
    pub fn instructions(&self) -> Vec<(String, Value)> {
        let told = self.state.instructions.lock().expect("lock");
        told.iter()
            .map(|(id, _, body)| (id.clone(), body.clone()))
            .collect()
    }

    /// Distinct shipments booked.
    pub fn bookings(&self) -> usize {
        self.state.booked.lock().expect("lock").len()
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

impl State {
    fn instruct(&self, req: &HttpRequest, shipment_id: &str, body: &[u8]) -> HttpResponse {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        if header("authorization") != Some(format!("Bearer {}", self.key)) {
            return HttpResponse::Unauthorized().json(json!({"error": "unauthorized"}));
        }
        let Some(key) = header("idempotency-key") else {
            return HttpResponse::BadRequest()
                .json(json!({"error": "Idempotency-Key is required"}));
        };
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let mut told = self.instructions.lock().expect("lock");
        if !told.iter().any(|(_, k, _)| *k == key) {
            told.push((shipment_id.to_string(), key, body));
        }
        HttpResponse::Accepted().json(json!({"accepted": true}))
    }

    fn poll(&self, req: &HttpRequest, tracking_number: &str) -> HttpResponse {
        let authorised = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            == Some(format!("Bearer {}", self.key).as_str());
        if !authorised {
            return HttpResponse::Unauthorized().json(json!({"error": "unauthorized"}));
        }
        let mut events = self.events.lock().expect("lock");
        let (list, polls) = events.entry(tracking_number.to_string()).or_default();
        *polls += 1;
        HttpResponse::Ok().json(json!({ "events": list }))
    }

    fn book(&self, req: &HttpRequest, body: &[u8]) -> HttpResponse {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let idempotency_key = header("idempotency-key");
        let mut requests = self.requests.lock().expect("lock");
        let seen = requests.len();
        let mut answer = |status: u16, json: Value| {
            requests.push(BookingRequest {
                idempotency_key: idempotency_key.clone(),
                body: body.clone(),
                answered: status,
            });
            HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status"))
                .json(json)
        };
        if header("authorization") != Some(format!("Bearer {}", self.key)) {
            return answer(401, json!({"error": "unauthorized"}));
        }
        let Some(id) = body["shipment_id"].as_str().map(str::to_string) else {
            return answer(400, json!({"error": "shipment_id is required"}));
        };
        if idempotency_key.as_deref() != Some(id.as_str()) {
            return answer(
                400,
                json!({"error": "Idempotency-Key must be the shipment id"}),
            );
        }
        if seen < self.fail_first {
            return answer(503, json!({"error": "try again"}));
        }
        if let Some((status, body)) = &self.fixed {
            return answer(*status, body.clone());
        }
        let mut booked = self.booked.lock().expect("lock");
        let n = booked.len() + 1;
        let tracking_number = booked
            .entry(id.clone())
            .or_insert_with(|| format!("LC{n:010}"))
            .clone();
        let mut confirmation = json!({
            "tracking_number": tracking_number,
            "label_url": format!("http://carrier.invalid/labels/{id}.pdf"),
        });
        if let Some(d) = &self.estimated_delivery {
            confirmation["estimated_delivery"] = json!(d);
        }
        answer(201, confirmation)
    }
}
