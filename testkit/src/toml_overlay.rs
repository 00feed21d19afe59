//! A minimal TOML overlay: replaces or adds `key = value` lines of a config file's tables
//! without a TOML library, keeping everything else (comments, multi-line arrays) as written.

/// Merges simple TOML (`[table]` headers and one-line `key = value` pairs) over `base`:
/// a key of a table that `base` has replaces (or is added to) that table; tables `base` lacks
/// are appended. Enough for overriding the default config without a TOML library.
pub fn merge_toml(base: &str, extra: &str) -> String {
    let mut overrides: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let mut section = String::new();
    for line in extra.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if let Some(name) = table_header(t) {
            section = name;
            if !overrides.iter().any(|(s, _)| *s == section) {
                overrides.push((section.clone(), Vec::new()));
            }
            continue;
        }
        let key = bare_key(t)
            .unwrap_or_else(|| panic!("merge_toml handles `key = value` lines only, not {t:?}"));
        if !overrides.iter().any(|(s, _)| *s == section) {
            overrides.push((section.clone(), Vec::new()));
        }
        let entry = overrides
            .iter_mut()
            .find(|(s, _)| *s == section)
            .expect("just added");
        entry.1.retain(|(k, _)| *k != key);
        entry.1.push((key, t.to_string()));
    }

    let mut out: Vec<String> = Vec::new();
    let mut seen_tables: Vec<String> = vec![String::new()];
    let mut current = String::new();
    let keys_of = |s: &str| {
        overrides
            .iter()
            .find(|(n, _)| n == s)
            .map(|(_, k)| k.clone())
            .unwrap_or_default()
    };
    // Root keys go first, before any table.
    for (k, line) in keys_of("") {
        if !base
            .lines()
            .take_while(|l| table_header(l.trim()).is_none())
            .any(|l| bare_key(l.trim()).as_deref() == Some(&k))
        {
            out.push(line.clone());
        }
    }
    for line in base.lines() {
        let t = line.trim();
        if let Some(name) = table_header(t) {
            current = name.clone();
            seen_tables.push(name.clone());
            out.push(line.to_string());
            if !t.starts_with("[[") {
                // Keys the base table lacks go right after its header.
                for (k, l) in keys_of(&name) {
                    let present = table_has_key(base, &name, &k);
                    if !present {
                        out.push(l.clone());
                    }
                }
            }
            continue;
        }
        if !t.starts_with('#') {
            if let Some(k) = bare_key(t) {
                if let Some((_, l)) = keys_of(&current).into_iter().find(|(kk, _)| *kk == k) {
                    out.push(l);
                    continue;
                }
            }
        }
        out.push(line.to_string());
    }
    for (name, keys) in &overrides {
        if seen_tables.contains(name) {
            continue;
        }
        out.push(format!("[{name}]"));
        for (_, l) in keys {
            out.push(l.clone());
        }
    }
    out.push(String::new());
    out.join("\n")
}

fn table_header(t: &str) -> Option<String> {
    let inner = t
        .strip_prefix("[[")
        .and_then(|r| r.strip_suffix("]]"))
        .or_else(|| t.strip_prefix('[').and_then(|r| r.strip_suffix(']')))?;
    let inner = inner.trim();
    (!inner.is_empty()
        && inner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'))
    .then(|| inner.to_string())
}

fn bare_key(t: &str) -> Option<String> {
    let (k, _) = t.split_once('=')?;
    let k = k.trim();
    (!k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
    .then(|| k.to_string())
}

fn table_has_key(base: &str, table: &str, key: &str) -> bool {
    let mut current = String::new();
    for line in base.lines() {
        let t = line.trim();
        if let Some(name) = table_header(t) {
            current = name;
            continue;
        }
        if current == table && !t.starts_with('#') && bare_key(t).as_deref() == Some(key) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests;
