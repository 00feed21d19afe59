//! The data fixture written by the release before the restructure (`tests/fixtures/v0-data`,
//! made by `tests/fixtures/make-v0-data.sh`), for the tests that check old data still opens:
//! copy it (it is never written in place) and read the ids of its orders by name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `tests/fixtures` of the workspace.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// Copies the v0 data directory to `to` (created if missing).
pub fn copy_v0_data(to: &Path) {
    copy_dir(&dir().join("v0-data"), to);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy's directory");
    for entry in std::fs::read_dir(from).expect("read the fixture") {
        let entry = entry.expect("read the fixture");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("read the fixture").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy the fixture");
        }
    }
}

/// The fixture's orders (and tracking numbers) by name: the `name=value` lines of
/// `v0-data.ids`.
pub fn v0_ids() -> BTreeMap<String, String> {
    std::fs::read_to_string(dir().join("v0-data.ids"))
        .expect("tests/fixtures/v0-data.ids")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
