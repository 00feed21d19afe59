//! The service as a child process, for the tools that measure or crash it (`capacity`, `crash`):
//! start it on a data directory and a free port, wait for readiness, kill it with SIGKILL.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct ChildService {
    child: Child,
    pub base: String,
}

impl ChildService {
    /// Starts `orderly serve` with the given config, data directory and extra environment.
    pub fn spawn(
        config_path: &Path,
        dir: &Path,
        env: &[(&str, String)],
    ) -> Result<ChildService, String> {
        let port = free_port()?;
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(exe);
        cmd.args(["--config", &config_path.display().to_string(), "serve"])
            .env("ORDERLY_SERVER__BIND", format!("127.0.0.1:{port}"))
            .env("ORDERLY_STORAGE__DATA_DIR", dir)
            .env("ORDERLY_LOG__LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start the service: {e}"))?;
        Ok(ChildService {
            child,
            base: format!("http://127.0.0.1:{port}"),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildService {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// Resident set size of a process, from /proc.
pub fn rss_kib(pid: u32) -> Result<u64, String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| "VmRSS not found".to_string())
}

pub async fn get(client: &awc::Client, url: &str, key: Option<&str>) -> Option<(u16, String)> {
    let mut req = client.get(url);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let mut resp = req.send().await.ok()?;
    let body = resp.body().limit(16 << 20).await.ok()?;
    Some((
        resp.status().as_u16(),
        String::from_utf8_lossy(&body).into_owned(),
    ))
}

/// Polls `f` until it holds; returns how long that took, or an error after `deadline`.
pub async fn wait_until(
    what: &str,
    deadline: Duration,
    mut f: impl AsyncFnMut() -> bool,
) -> Result<Duration, String> {
    let t0 = Instant::now();
    while !f().await {
        if t0.elapsed() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        actix_rt::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(t0.elapsed())
}
