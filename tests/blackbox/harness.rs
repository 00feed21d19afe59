//! The crash harness (`orderly crash`) in its short CI form: a few SIGKILL/restart cycles under
//! concurrent load must lose no acknowledged change, repeat no step, resume every paid order and
//! deliver every notification. The README gives the long run.

use std::process::Command;

#[test]
fn short_crash_harness_run_finds_no_violation() {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_orderly"))
        .args([
            "--config",
            config,
            "crash",
            "--iterations",
            "3",
            "--concurrency",
            "8",
            "--max-run-ms",
            "800",
        ])
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "crash harness failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("lost or moved backwards:   0"), "{stdout}");
    assert!(stdout.contains("histories with a repeat:   0"), "{stdout}");
    let acknowledged: u64 = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("acknowledged transitions:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(acknowledged > 0, "the harness drove no load:\n{stdout}");
}
