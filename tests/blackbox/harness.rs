//! The measuring tools in their short CI form, called as library functions. The crash harness
//! (`orderly-bench crash`): a few SIGKILL/restart cycles under concurrent load must lose no
//! acknowledged change, repeat no step, resume every paid order and deliver every notification.
//! The lifecycle bench (`orderly-bench bench --scenario lifecycle`) with split orders: every
//! order reaches delivered, so the figures it prints measure what they say. The README gives
//! the long runs.

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

#[test]
fn a_short_lifecycle_bench_with_split_orders_delivers_every_order() {
    use orderly_bench::bench::{run as bench, BenchArgs, Scenario};
    let config_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    let config = orderly::config::Config::load(&config_path).expect("config.toml loads");
    let args = BenchArgs {
        scenario: Scenario::Lifecycle,
        orders: 40,
        concurrency: 8,
        rate: None,
        duration_secs: None,
        warmup_secs: 0,
        url: None,
        json: None,
        keep_data: false,
        split_share: 0.5,
    };
    bench(
        args,
        &config,
        &config_path,
        Some(Path::new(env!("CARGO_BIN_EXE_orderly"))),
    )
    .expect("every order, split or not, is delivered");
}
