//! Bearer-key authentication, role checks and which warehouses a key may act for.
//!
//! Keys are kept as SHA-256 digests, so a lookup's timing says nothing about how much of a
//! guessed key was right. The admin role may call every endpoint; a carrier key only posts
//! events for its own carrier; a warehouse key bound to some warehouses
//! (`auth.warehouse = [{ key = "...", warehouses = ["ams"] }]`) acts for those only, and
//! [`Caller::may_act_for`] is the one check of that (a plain warehouse key and admin act for
//! all).

use super::problem::Problem;
use crate::config::AuthConfig;
use actix_web::http::StatusCode;
use actix_web::HttpRequest;
use orderly_actors::domain::{Order, OrderId};
use orderly_actors::engine::Engine;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

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

    /// Who a storefront route's change is recorded as caused by: the admin, or the storefront.
    pub fn storefront_cause(&self) -> orderly_actors::domain::Cause {
        use orderly_actors::domain::Cause;
        if *self == Role::Admin {
            Cause::Admin
        } else {
            Cause::Storefront
        }
    }
}

/// Who is calling: the key's role, and the warehouses a bound warehouse key may act for.
#[derive(Debug, Clone)]
pub struct Caller {
    pub role: Role,
    /// `None`: every warehouse (admin, a plain warehouse key; other roles have no
    /// warehouse endpoints).
    warehouses: Option<Arc<[String]>>,
}

impl Caller {
    fn new(role: Role) -> Caller {
        Caller {
            role,
            warehouses: None,
        }
    }

    /// Passes if the caller may act for `warehouse`; else 403 saying which warehouses it may
    /// act for.
    pub fn may_act_for(&self, warehouse: &str) -> Result<(), Problem> {
        match &self.warehouses {
            Some(bound) if !bound.iter().any(|w| w == warehouse) => Err(Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "this key may act for warehouse {} only, not for '{warehouse}'",
                    bound.join(", ")
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Passes if the caller may act for the warehouse a shipment of `order` is served from
    /// (`None`: every open shipment's, as the order-level routes act on all of them). An
    /// order not (yet) at a warehouse, or a shipment it does not have, passes: its own rules
    /// refuse what it cannot do.
    pub fn may_act_for_shipment(
        &self,
        order: &Order,
        shipment: Option<u32>,
    ) -> Result<(), Problem> {
        match shipment {
            Some(id) => match order.shipment(id) {
                Some(s) => self.may_act_for(&s.warehouse),
                None => Ok(()),
            },
            None => order
                .open_shipments()
                .try_for_each(|s| self.may_act_for(&s.warehouse)),
        }
    }

    /// [`Caller::may_act_for_shipment`] for an order by id: read only when the key is bound
    /// (a missing order is 404).
    pub async fn may_act_for_order_id(
        &self,
        engine: &Engine,
        id: OrderId,
        shipment: Option<u32>,
    ) -> Result<(), Problem> {
        if self.warehouses.is_none() {
            return Ok(());
        }
        self.may_act_for_shipment(&engine.order(id).await?, shipment)
    }
}

pub struct Keys {
    by_digest: HashMap<[u8; 32], Caller>,
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl Keys {
    pub fn from_config(c: &AuthConfig) -> Keys {
        let mut by_digest = HashMap::new();
        for k in &c.storefront {
            by_digest.insert(digest(k), Caller::new(Role::Storefront));
        }
        for k in &c.warehouse {
            let caller = Caller {
                role: Role::Warehouse,
                warehouses: k.warehouses().map(Arc::from),
            };
            by_digest.insert(digest(k.key()), caller);
        }
        for (carrier, keys) in &c.carriers {
            for k in keys {
                by_digest.insert(digest(k), Caller::new(Role::Carrier(carrier.clone())));
            }
        }
        for k in &c.admin {
            by_digest.insert(digest(k), Caller::new(Role::Admin));
        }
        Keys { by_digest }
    }

    fn caller(&self, req: &HttpRequest) -> Result<&Caller, Problem> {
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
    pub fn require(&self, req: &HttpRequest, allowed: &[Role]) -> Result<Caller, Problem> {
        let caller = self.caller(req)?;
        let role = &caller.role;
        if *role == Role::Admin || allowed.contains(role) {
            return Ok(caller.clone());
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
