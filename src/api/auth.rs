//! Bearer-key authentication and role checks.
//!
//! Keys are kept as SHA-256 digests, so a lookup's timing says nothing about how much of a
//! guessed key was right. The admin role may call every endpoint; a carrier key only posts
//! events for its own carrier.

use super::problem::Problem;
use crate::config::AuthConfig;
use actix_web::http::StatusCode;
use actix_web::HttpRequest;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Storefront,
    Warehouse,
    Admin,
    Carrier(String),
}

impl Role {
    fn name(&self) -> String {
        match self {
            Role::Storefront => "storefront".into(),
            Role::Warehouse => "warehouse".into(),
            Role::Admin => "admin".into(),
            Role::Carrier(c) => format!("carrier '{c}'"),
        }
    }
}

pub struct Keys {
    by_digest: HashMap<[u8; 32], Role>,
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl Keys {
    pub fn from_config(c: &AuthConfig) -> Keys {
        let mut by_digest = HashMap::new();
        for k in &c.storefront {
            by_digest.insert(digest(k), Role::Storefront);
        }
        for k in &c.warehouse {
            by_digest.insert(digest(k), Role::Warehouse);
        }
        for (carrier, keys) in &c.carriers {
            for k in keys {
                by_digest.insert(digest(k), Role::Carrier(carrier.clone()));
            }
        }
        for k in &c.admin {
            by_digest.insert(digest(k), Role::Admin);
        }
        Keys { by_digest }
    }

    fn role(&self, req: &HttpRequest) -> Result<&Role, Problem> {
        let header = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .ok_or_else(|| {
                Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "an Authorization: Bearer <key> header is required",
                )
            })?;
        let key = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "the Authorization header must use the Bearer scheme",
                )
            })?;
        self.by_digest.get(&digest(key)).ok_or_else(|| {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the bearer key is not valid",
            )
        })
    }

    /// Passes if the caller holds one of `allowed` (or admin).
    pub fn require(&self, req: &HttpRequest, allowed: &[Role]) -> Result<Role, Problem> {
        let role = self.role(req)?;
        if *role == Role::Admin || allowed.contains(role) {
            return Ok(role.clone());
        }
        let names: Vec<String> = allowed.iter().map(Role::name).collect();
        Err(Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "this endpoint needs the {} role; the key given is for {}",
                names.join(" or "),
                role.name()
            ),
        ))
    }
}
