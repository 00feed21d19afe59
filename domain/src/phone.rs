//! Phone numbers as Orderly keeps them: E.164, `+` then 8 to 15 digits, the first not 0
//! (`+31612345678`). The one check, for an order's customer, a back-in-stock subscriber and
//! the SMS and WhatsApp channels alike.

/// Whether `number` is in E.164, exactly (no spaces or separators).
pub fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164() {
        for ok in [
            "+31612345678",
            "+40712345678",
            "+905321234567",
            "+12025550123",
            "+12345678",
            "+123456789012345",
        ] {
            assert!(is_e164(ok), "{ok}");
        }
        for bad in [
            "",
            "+",
            "0612345678",
            "+0612345678",
            "+31 6 12345678",
            "+316-1234567",
            "+1234567",
            "+1234567890123456",
            "31612345678",
            "+3161234567a",
            "++31612345678",
        ] {
            assert!(!is_e164(bad), "{bad}");
        }
    }
}
