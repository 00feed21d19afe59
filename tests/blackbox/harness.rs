//! The crash harness (`orderly-bench crash`) in its short CI form, called as a library
//! function: a few SIGKILL/restart cycles under concurrent load must lose no acknowledged change,
//! repeat no step, resume every paid order and deliver every notification. The README gives the
//! long run.

use orderly_bench::crash::{run, CrashArgs};
use std::path::Path;

#[test]
fn short_crash_harness_run_finds_no_violation() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    let args = CrashArgs {
        iterations: 3,
        concurrency: 8,
        max_run_ms: 800,
        keep_data: false,
    };
    let report = run(&args, &config, Path::new(env!("CARGO_BIN_EXE_orderly")))
        .expect("the crash harness runs");
    eprint!("{report}");
    assert_eq!(report.lost(), 0, "lost or moved backwards:\n{report}");
    assert_eq!(report.repeats(), 0, "histories with a repeat:\n{report}");
    assert!(
        report.acknowledged > 0,
        "the harness drove no load:\n{report}"
    );
    assert!(
        report.not_resumed.is_empty(),
        "paid orders not resumed:\n{report}"
    );
    assert!(
        report.notifications_in_time
            && report.notifications_delivered >= report.notifications_expected,
        "notifications missing:\n{report}"
    );
    assert!(
        report.notifications_raw >= report.notifications_delivered,
        "{report}"
    );
    assert!(report.is_clean(), "{report}");
}
