//! Checks on free-text fields a client sends, shared by `NewOrder::validate` and `decide`.

use super::error::{invalid, DomainError};

/// A text field: not blank when `required`, at most `max` characters, no control characters.
pub(super) fn text(
    field: &str,
    value: &str,
    required: bool,
    max: usize,
) -> Result<(), DomainError> {
    if required && value.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(invalid(field, format!("must be at most {max} characters")));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(())
}

/// An optional text field: checked like [`text`] when present.
pub(super) fn opt_text(field: &str, value: &Option<String>, max: usize) -> Result<(), DomainError> {
    value
        .as_deref()
        .map_or(Ok(()), |v| text(field, v, false, max))
}
