//! The `orderly` binary as a child process.
//!
//! [`Service::builder`] takes the binary and a config (text, a file, plus overlays); `start`
//! writes the config into the service's work directory with `[server] bind` set to a free port
//! and `[storage] data_dir` to the data directory (the same values also go into the environment,
//! which overrides the file, so inherited `ORDERLY_…` variables cannot redirect them), appends
//! stdout and stderr to `orderly.log` there, and waits until `/readyz` answers 200.
//!
//! [`Service::kill9`] is SIGKILL (no shutdown hooks, no flushing), [`Service::restart`] starts
//! the same binary on the same config, port and data directory again, [`Service::stop`] is
//! SIGTERM and a wait.

use crate::toml_overlay::merge_toml;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The service binary's name.
pub const BINARY: &str = "orderly";

/// Where the `orderly` binary is: `$ORDERLY_BIN` if set, else next to the running executable
/// (or one directory up, for test executables under `target/<profile>/deps`).
pub fn find_service_binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("ORDERLY_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let name = format!("{BINARY}{}", std::env::consts::EXE_SUFFIX);
    let dir = exe.parent().ok_or("this executable has no directory")?;
    let mut candidates = vec![dir.join(&name)];
    if dir.file_name().is_some_and(|d| d == "deps") {
        if let Some(up) = dir.parent() {
            candidates.push(up.join(&name));
        }
    }
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        format!(
            "cannot find the `{BINARY}` binary next to {}: build it in the same profile (e.g. `cargo build --release -p orderly`) or set ORDERLY_BIN",
            exe.display()
        )
    })
}

/// A port nobody listens on right now.
pub fn free_port() -> Result<u16, String> {
    let l =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot find a free port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// Resident set size of a process in KiB, from /proc.
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

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `base` with the server bound to `bind`, storing under `data_dir`, and (if given) logging at
/// `log_level`; everything else as written.
pub fn config_with(
    base: &str,
    bind: &str,
    data_dir: &Path,
    log_level: Option<&str>,
) -> Result<String, String> {
    let data_dir = data_dir
        .to_str()
        .ok_or_else(|| format!("the data directory {} is not UTF-8", data_dir.display()))?;
    let mut overlay = format!("[server]\nbind = {bind:?}\n[storage]\ndata_dir = {data_dir:?}\n");
    if let Some(level) = log_level {
        overlay.push_str(&format!("[log]\nlevel = {level:?}\n"));
    }
    Ok(merge_toml(base, &overlay))
}

enum ConfigSource {
    Text(String),
    File(PathBuf),
}

/// How to start a [`Service`].
pub struct ServiceBuilder {
    bin: PathBuf,
    config: ConfigSource,
    overlays: Vec<String>,
    data_dir: Option<PathBuf>,
    work_dir: Option<PathBuf>,
    keep_work_dir: bool,
    env: Vec<(String, String)>,
    log_level: Option<String>,
    ready_deadline: Duration,
}

impl ServiceBuilder {
    /// The config as TOML text (the default: empty, which the service refuses).
    pub fn config_text(mut self, text: impl Into<String>) -> Self {
        self.config = ConfigSource::Text(text.into());
        self
    }

    /// The config read from this file when the service starts.
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config = ConfigSource::File(path.into());
        self
    }

    /// Simple TOML (see [`merge_toml`]) merged over the config; overlays apply in order.
    pub fn merge(mut self, extra_toml: impl Into<String>) -> Self {
        self.overlays.push(extra_toml.into());
        self
    }

    /// The data directory (default: `data` in the work directory).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Where the written config and the log go. Default: a new temporary directory, deleted
    /// when the service is dropped (see [`ServiceBuilder::keep_work_dir`]). A directory given
    /// here is created if missing and never deleted.
    pub fn work_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.work_dir = Some(dir.into());
        self
    }

    /// Keep the temporary work directory when the service is dropped.
    pub fn keep_work_dir(mut self, keep: bool) -> Self {
        self.keep_work_dir = keep;
        self
    }

    /// An environment variable for the process (they override the config file).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The service's log level (`[log] level`); default: as the config says.
    pub fn log_level(mut self, level: impl Into<String>) -> Self {
        self.log_level = Some(level.into());
        self
    }

    /// How long the service may take to answer `/readyz` (default 30 s).
    pub fn ready_within(mut self, deadline: Duration) -> Self {
        self.ready_deadline = deadline;
        self
    }

    /// Starts the process and waits until it is ready.
    pub async fn start(self) -> Result<Service, String> {
        let base = match &self.config {
            ConfigSource::Text(t) => t.clone(),
            ConfigSource::File(p) => std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))?,
        };
        let config = self
            .overlays
            .iter()
            .fold(base, |acc, extra| merge_toml(&acc, extra));
        let (temp, work_dir) = match &self.work_dir {
            Some(d) => {
                std::fs::create_dir_all(d)
                    .map_err(|e| format!("cannot create {}: {e}", d.display()))?;
                (None, d.clone())
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("orderly-service-")
                    .tempdir()
                    .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let data_dir = self.data_dir.unwrap_or_else(|| work_dir.join("data"));
        let mut s = Service {
            bin: self.bin,
            config,
            work_dir,
            temp,
            keep_work_dir: self.keep_work_dir,
            data_dir,
            env: self.env,
            log_level: self.log_level,
            ready_deadline: self.ready_deadline,
            port: free_port()?,
            child: None,
        };
        s.spawn_ready().await?;
        Ok(s)
    }
}

/// One `orderly` process (or none, between a kill and a restart) with its config, data
/// directory and log. Killed with SIGKILL when dropped.
pub struct Service {
    bin: PathBuf,
    config: String,
    work_dir: PathBuf,
    temp: Option<tempfile::TempDir>,
    keep_work_dir: bool,
    data_dir: PathBuf,
    env: Vec<(String, String)>,
    log_level: Option<String>,
    ready_deadline: Duration,
    port: u16,
    child: Option<Child>,
}

impl Service {
    /// A builder for the `orderly` binary at `bin`.
    pub fn builder(bin: impl Into<PathBuf>) -> ServiceBuilder {
        ServiceBuilder {
            bin: bin.into(),
            config: ConfigSource::Text(String::new()),
            overlays: Vec::new(),
            data_dir: None,
            work_dir: None,
            keep_work_dir: false,
            env: Vec::new(),
            log_level: None,
            ready_deadline: Duration::from_secs(30),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    pub fn config_path(&self) -> PathBuf {
        self.work_dir.join("config.toml")
    }

    pub fn log_path(&self) -> PathBuf {
        self.work_dir.join("orderly.log")
    }

    /// The service's log so far (stdout and stderr of every run).
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = File::open(self.log_path()) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log(), lines)
    }

    /// Resident memory of the running process, in KiB.
    pub fn rss_kib(&self) -> Result<u64, String> {
        rss_kib(self.pid().ok_or("the service is not running")?)
    }

    /// SIGKILL, as a crash or an OOM kill would: no shutdown hooks, no flushing. Returns
    /// whether a process was running.
    pub fn kill9(&mut self) -> bool {
        match self.child.take() {
            Some(mut child) => {
                // `Child::kill` is SIGKILL on Unix.
                let _ = child.kill();
                let _ = child.wait();
                true
            }
            None => false,
        }
    }

    /// Starts the process again on the same config, port and data directory (killing it first
    /// if it still runs), and waits until it is ready.
    pub async fn restart(&mut self) -> Result<(), String> {
        self.kill9();
        self.spawn_ready().await
    }

    /// SIGTERM, then waits up to `grace` for the process to exit (SIGKILL after that). The
    /// exit status, if a process was running.
    pub async fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(pid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: signalling our own child process, which has not been reaped yet.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + grace;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return child.wait().ok();
            }
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Writes the config, spawns the binary and waits until `/readyz` answers 200. Moves to
    /// another port if the chosen one was taken in the meantime.
    async fn spawn_ready(&mut self) -> Result<(), String> {
        for attempt in 0..3 {
            let bind = format!("127.0.0.1:{}", self.port);
            let text = config_with(
                &self.config,
                &bind,
                &self.data_dir,
                self.log_level.as_deref(),
            )?;
            std::fs::write(self.config_path(), text)
                .map_err(|e| format!("cannot write the service config: {e}"))?;
            let log_path = self.log_path();
            let log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
            let log_start = log.metadata().map(|m| m.len() as usize).unwrap_or(0);
            let out = log.try_clone().map_err(|e| e.to_string())?;
            let mut cmd = Command::new(&self.bin);
            cmd.arg("--config")
                .arg(self.config_path())
                .arg("serve")
                .env("ORDERLY_SERVER__BIND", &bind)
                .env("ORDERLY_STORAGE__DATA_DIR", &self.data_dir)
                .env_remove("RUST_LOG")
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(log);
            if let Some(level) = &self.log_level {
                cmd.env("ORDERLY_LOG__LEVEL", level);
            }
            for (k, v) in &self.env {
                cmd.env(k, v);
            }
            let child = cmd
                .spawn()
                .map_err(|e| format!("cannot start {}: {e}", self.bin.display()))?;
            self.child = Some(child);
            match self.wait_ready().await {
                Ok(()) => return Ok(()),
                Err(exited) => {
                    let log = self.log();
                    let this_run = log.get(log_start..).unwrap_or(&log);
                    if exited && this_run.contains("cannot listen") && attempt < 2 {
                        self.port = free_port()?;
                        continue;
                    }
                    self.kill9();
                    let why = if exited {
                        "exited before it was ready".to_string()
                    } else {
                        format!("was not ready within {:?}", self.ready_deadline)
                    };
                    return Err(format!(
                        "orderly on port {} {why}; its log:\n{}",
                        self.port,
                        tail(this_run, 60)
                    ));
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    /// Ok once ready; Err(true) if the process exited, Err(false) on timeout.
    async fn wait_ready(&mut self) -> Result<(), bool> {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(2))
            .finish();
        let url = format!("{}/readyz", self.base_url());
        let deadline = Instant::now() + self.ready_deadline;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(_)) = child.try_wait() {
                    return Err(true);
                }
            }
            if let Ok(resp) = client.get(&url).send().await {
                if resp.status().as_u16() == 200 {
                    return Ok(());
                }
            }
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        }
        Err(false)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill9();
        if self.keep_work_dir {
            if let Some(t) = self.temp.take() {
                let _ = t.keep();
            }
        }
    }
}
