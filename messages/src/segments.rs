//! How many SMS an SMS text is.
//!
//! A text that fits the GSM 03.38 alphabet travels as 7-bit septets: 160 in one message, or
//! 153 per part once it is split (the rest of each part carries the header that joins them).
//! The alphabet's extension table (`€ [ ] { } \ ^ ~ |` and the form feed) costs two septets each,
//! and a pair is never split across parts. Anything else (Romanian `ș ț ă`, Turkish `ş ğ ı`,
//! Arabic, emoji) sends the whole text as UCS-2: 70 UTF-16 units in one message, 67 per part, a
//! surrogate pair never split. Providers bill per part, so the notifier records the count.
//!
//! Pure; the tables are the 3GPP TS 23.038 default alphabet and its extension.

/// How a text is encoded on the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "gsm7",
            Encoding::Ucs2 => "ucs2",
        }
    }
}

/// A text's encoding and the number of parts it goes out as (0 for an empty text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segments {
    pub encoding: Encoding,
    pub count: u32,
}

/// The GSM 03.38 default alphabet (one septet each).
const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The extension table (an escape septet and one more).
const EXTENDED: &str = "\u{000C}^{}\\[~]|€";

/// Counts `text`'s parts.
pub fn count(text: &str) -> Segments {
    let septets: Option<Vec<u32>> = text
        .chars()
        .map(|c| {
            if BASIC.contains(c) {
                Some(1)
            } else if EXTENDED.contains(c) {
                Some(2)
            } else {
                None
            }
        })
        .collect();
    match septets {
        Some(units) => Segments {
            encoding: Encoding::Gsm7,
            count: pack(&units, 160, 153),
        },
        None => {
            let units: Vec<u32> = text.chars().map(|c| c.len_utf16() as u32).collect();
            Segments {
                encoding: Encoding::Ucs2,
                count: pack(&units, 70, 67),
            }
        }
    }
}

/// Parts needed for characters of `units` each: one part if they all fit `single`, else
/// parts of `part` filled in order, a character never split.
fn pack(units: &[u32], single: u32, part: u32) -> u32 {
    let total: u32 = units.iter().sum();
    if total == 0 {
        return 0;
    }
    if total <= single {
        return 1;
    }
    let (mut parts, mut used) = (1, 0);
    for &u in units {
        if used + u > part {
            parts += 1;
            used = 0;
        }
        used += u;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let gsm = Encoding::Gsm7;
        let ucs = Encoding::Ucs2;
        // (text, encoding, parts)
        let cases: Vec<(String, Encoding, u32)> = vec![
            (String::new(), gsm, 0),
            ("Your order is confirmed.".into(), gsm, 1),
            ("a".repeat(160), gsm, 1),
            ("a".repeat(161), gsm, 2),
            ("a".repeat(306), gsm, 2),
            ("a".repeat(307), gsm, 3),
            // The euro sign costs two septets: 80 of them fill one message exactly.
            ("€".repeat(80), gsm, 1),
            ("€".repeat(81), gsm, 2),
            // A pair never straddles two parts: 152 + one € does not fit 153.
            (format!("{}€{}", "a".repeat(152), "a".repeat(10)), gsm, 2),
            (format!("{}€", "a".repeat(152)), gsm, 1),
            // Romanian comma-below letters and Turkish dotless i are not GSM-7.
            ("Comanda ta a fost expediată".into(), ucs, 1),
            ("Siparişiniz kargoya verildi".into(), ucs, 1),
            ("ı".repeat(70), ucs, 1),
            ("ı".repeat(71), ucs, 2),
            ("ş".repeat(134), ucs, 2),
            ("ş".repeat(135), ucs, 3),
            ("تم شحن طلبك".into(), ucs, 1),
            // An emoji is two UTF-16 units, never split.
            ("📦".repeat(35), ucs, 1),
            ("📦".repeat(36), ucs, 2),
            (format!("{}📦", "x".repeat(66)), ucs, 1),
            (format!("{}📦{}", "ş".repeat(66), "ş".repeat(3)), ucs, 2),
        ];
        for (text, encoding, parts) in cases {
            assert_eq!(
                count(&text),
                Segments {
                    encoding,
                    count: parts
                },
                "{text:?}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn more_text_never_takes_fewer_parts(a in ".{0,400}", b in ".{0,50}") {
            let shorter = count(&a);
            let longer = count(&format!("{a}{b}"));
            if shorter.encoding == longer.encoding {
                proptest::prop_assert!(longer.count >= shorter.count);
            }
        }
    }
}
