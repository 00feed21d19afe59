//! How PostgreSQL's errors become the storage interface's: a conflicting write (a unique or
//! check constraint a concurrent writer tripped, a serialization failure) is
//! [`StorageError::Conflict`], so the caller reloads and decides again; everything else is a
//! backend error.

use orderly_storage::StorageError;
use tokio_postgres::error::SqlState;

pub(crate) fn db(e: tokio_postgres::Error) -> StorageError {
    match e.code() {
        Some(c)
            if *c == SqlState::UNIQUE_VIOLATION
                || *c == SqlState::CHECK_VIOLATION
                || *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            let why = match e.as_db_error() {
                Some(d) => match d.detail() {
                    Some(detail) => format!("{}: {detail}", d.message()),
                    None => d.message().to_string(),
                },
                None => e.to_string(),
            };
            StorageError::Conflict(why)
        }
        _ => StorageError::Backend(Box::new(e)),
    }
}

pub(crate) fn pool(e: deadpool_postgres::PoolError) -> StorageError {
    StorageError::Backend(Box::new(e))
}

pub(crate) fn other(what: impl std::fmt::Display) -> StorageError {
    StorageError::Backend(what.to_string().into())
}

/// Whether the error is the connection's rather than the statement's (the write's outcome is
/// then unknown, and the connection must be replaced).
pub(crate) fn is_connection(e: &tokio_postgres::Error) -> bool {
    e.is_closed() || e.code().is_none()
}
