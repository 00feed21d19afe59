//! The JSON request body of every endpoint that reads one (`Body<T>`): `application/json` (or a
//! `+json` type), at most `server.max_body_bytes`, decoded with the path of whatever does not fit
//! the request type, so a refusal names the field (`lines[0].quantity`, `allow_split`) as every
//! other validation problem does, rather than a line and column.
//!
//! actix's own `Json` reports serde_json's message only, which carries no path; this extractor
//! reads the bytes with actix's `Bytes` extractor (its limit from the `PayloadConfig` the
//! routes set, content-encoding handled as before) and decodes them through
//! `serde_path_to_error`.

use super::problem::Problem;
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::mime;
use actix_web::{dev, web, FromRequest, HttpMessage, HttpRequest};
use futures::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

/// A request body decoded as `T` (see the module doc).
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T> Body<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Body<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut dev::Payload) -> Self::Future {
        let json = matches!(
            req.mime_type(),
            Ok(Some(m)) if m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON)
        );
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !json {
                return Err(Problem::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "the request body must be application/json",
                )
                .into());
            }
            let bytes = bytes.await.map_err(payload_problem)?;
            Ok(Body(decode(&bytes)?))
        })
    }
}

/// What reading the body failed on, as a problem.
fn payload_problem(e: actix_web::Error) -> actix_web::Error {
    let p = match e.as_error::<PayloadError>() {
        Some(PayloadError::Overflow) => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the request body is too large",
        ),
        _ => Problem::bad_request(format!("could not read the request body: {e}")),
    };
    p.into()
}

/// Decodes `bytes` as `T`: malformed JSON is 400; JSON that does not fit `T` is 422 naming the
/// field at fault.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            let field = field_at_fault(&path, &inner.to_string());
            Problem::invalid(&field, format!("invalid request body: {field}: {inner}"))
        } else {
            Problem::bad_request(format!("malformed JSON: {inner}"))
        }
    })?;
    de.end()
        .map_err(|e| Problem::bad_request(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// The field a data error is about: its path (which, for an unknown field, ends with it), or,
/// for a field missing from an object, that field inside it (serde names it only in the
/// message). `body` for the whole.
fn field_at_fault(path: &str, message: &str) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (path, missing) {
        (".", Some(name)) => name.to_string(),
        (".", None) => "body".to_string(),
        (path, Some(name)) => format!("{path}.{name}"),
        (path, None) => path.to_string(),
    }
}

#[cfg(test)]
mod tests;
