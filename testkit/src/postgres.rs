//! A throwaway PostgreSQL server for tests and benchmarks: `initdb` into a temporary
//! directory, `postgres` on a free loopback port, a fresh database per test.
//!
//! PostgreSQL's binaries are looked for on `PATH` and under `/usr/lib/postgresql/*/bin`. When
//! they are missing, [`TestPostgres::shared`] returns `None` and the test says it skipped —
//! unless `REQUIRE_POSTGRESQL=1` (CI sets it), which turns the skip into a failure.
//!
//! `initdb` refuses to run as root; as root, the server runs as the `postgres` user (the
//! PostgreSQL packages create it), with the data directory handed to it. The server is a child
//! of a thread that lives as long as the process and is asked to quit when the process dies
//! (`PR_SET_PDEATHSIG`), so a test run never leaves one behind.

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Set to `1` to make a missing PostgreSQL a test failure instead of a skip.
pub const REQUIRE_VAR: &str = "REQUIRE_POSTGRESQL";

/// How the server is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `fsync=off`: fast, for tests (a crashed test server is thrown away anyway).
    Relaxed,
    /// `fsync=on`, as in production: for measurements.
    Durable,
}

/// A running throwaway server.
pub struct TestPostgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Mutex<Option<Child>>,
    next_db: AtomicU32,
}

/// The directory holding `initdb`, `postgres` and `psql`, if PostgreSQL is installed.
pub fn find_bin_dir() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("PATH") {
        for dir in std::env::split_paths(&path) {
            // Packages link a few binaries into PATH; the rest are beside the real initdb.
            if let Ok(real) = std::fs::canonicalize(dir.join("initdb")) {
                let bin = real.parent()?.to_path_buf();
                if ["postgres", "pg_isready", "psql"]
                    .iter()
                    .all(|b| bin.join(b).is_file())
                {
                    return Some(bin);
                }
            }
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|b| {
            ["initdb", "postgres", "pg_isready", "psql"]
                .iter()
                .all(|x| b.join(x).is_file())
        })
        .collect();
    found.sort();
    found.pop()
}

/// Whether a missing PostgreSQL must fail the test.
pub fn required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1")
}

/// The shared server, or `None` (with a message) when PostgreSQL is not installed.
///
/// # Panics
/// When PostgreSQL is missing and [`REQUIRE_VAR`] is set, or when it is installed but does not
/// start.
pub fn shared_or_skip(test: &str) -> Option<&'static TestPostgres> {
    let pg = TestPostgres::shared();
    if pg.is_none() {
        assert!(
            !required(),
            "{test}: PostgreSQL not found, and {REQUIRE_VAR}=1 says it must be"
        );
        eprintln!("{test}: PostgreSQL not found, skipping");
    }
    pg
}

impl TestPostgres {
    /// One server per test process, started on first use (fsync off).
    pub fn shared() -> Option<&'static TestPostgres> {
        static SHARED: OnceLock<Option<TestPostgres>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let bin = find_bin_dir()?;
                Some(
                    TestPostgres::start_with(&bin, Durability::Relaxed).unwrap_or_else(|e| {
                        panic!("PostgreSQL is installed but did not start: {e}")
                    }),
                )
            })
            .as_ref()
    }

    /// A server of its own, stopped when dropped; `None` when PostgreSQL is not installed.
    pub fn start(durability: Durability) -> Option<std::io::Result<TestPostgres>> {
        TestPostgres::start_with_settings(durability, &[])
    }

    /// Like [`TestPostgres::start`], with extra server settings (`-c name=value`), e.g. TLS.
    /// Files they name must be readable by the server's user (see [`hand_to_server`]).
    pub fn start_with_settings(
        durability: Durability,
        settings: &[(&str, &str)],
    ) -> Option<std::io::Result<TestPostgres>> {
        let bin = find_bin_dir()?;
        let settings: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Some(TestPostgres::start_configured(&bin, durability, settings))
    }

    fn start_with(bin: &Path, durability: Durability) -> std::io::Result<TestPostgres> {
        TestPostgres::start_configured(bin, durability, Vec::new())
    }

    fn start_configured(
        bin: &Path,
        durability: Durability,
        settings: Vec<String>,
    ) -> std::io::Result<TestPostgres> {
        let dir = std::env::temp_dir().join(format!(
            "orderly-pg-{}-{}",
            std::process::id(),
            crate::free_port().map_err(std::io::Error::other)?
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sock"))?;
        let user = RunAs::for_current_user()?;
        user.own(&dir)?;
        let out = user
            .command(bin.join("initdb"))
            .args(["-D"])
            .arg(dir.join("data"))
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(std::io::Error::other(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let port = crate::free_port().map_err(std::io::Error::other)?;
        let fsync = match durability {
            Durability::Relaxed => "off",
            Durability::Durable => "on",
        };
        let log = std::fs::File::create(dir.join("postgres.log"))?;
        user.own(&dir.join("postgres.log"))?;
        // Spawned from a thread that never ends, so the death signal comes with the process's
        // end and not with the spawning test thread's.
        let (tx, rx) = std::sync::mpsc::channel();
        let (bin2, dir2) = (bin.to_path_buf(), dir.clone());
        std::thread::Builder::new()
            .name("test-postgres".into())
            .spawn(move || {
                let mut cmd = user.command(bin2.join("postgres"));
                cmd.arg("-D")
                    .arg(dir2.join("data"))
                    .args(["-p", &port.to_string(), "-h", "127.0.0.1", "-k"])
                    .arg(dir2.join("sock"))
                    .args(["-c", &format!("fsync={fsync}")])
                    .args(["-c", "max_connections=300", "-c", "shared_buffers=128MB"]);
                for setting in &settings {
                    cmd.args(["-c", setting]);
                }
                cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
                unsafe {
                    cmd.pre_exec(|| {
                        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    });
                }
                let _ = tx.send(cmd.spawn());
                loop {
                    std::thread::park();
                }
            })?;
        let child = rx
            .recv()
            .map_err(|_| std::io::Error::other("the spawning thread died"))??;
        let pg = TestPostgres {
            bin: bin.to_path_buf(),
            dir,
            port,
            child: Mutex::new(Some(child)),
            next_db: AtomicU32::new(0),
        };
        pg.wait_ready(Duration::from_secs(60))?;
        Ok(pg)
    }

    fn wait_ready(&self, patience: Duration) -> std::io::Result<()> {
        let deadline = Instant::now() + patience;
        loop {
            let ok = Command::new(self.bin.join("pg_isready"))
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                    "-q",
                ])
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(std::io::Error::other(format!(
                    "postgres exited with {status}: {}",
                    std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
                )));
            }
            if Instant::now() > deadline {
                return Err(std::io::Error::other(
                    "postgres did not become ready in time",
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding its binaries (`pgbench`, `psql`, …).
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// The url of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs SQL through `psql` on database `db`; returns its output.
    pub fn psql(&self, db: &str, sql: &str) -> std::io::Result<String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.url(db))
            .args(["-c", sql])
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(std::io::Error::other(format!(
                "psql failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs a file of SQL (a plain-SQL `pg_dump`, say) through `psql -f` on the database at
    /// `url`, stopping at the first error.
    pub fn restore_sql(&self, url: &str, file: &Path) -> std::io::Result<()> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(url)
            .arg("-f")
            .arg(file)
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(std::io::Error::other(format!(
                "psql -f {} failed: {}",
                file.display(),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(())
    }

    /// A fresh, empty database; returns its url.
    pub fn create_database(&self, prefix: &str) -> String {
        let n = self.next_db.fetch_add(1, Ordering::SeqCst);
        let name: String = format!("{prefix}_{n}")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        self.psql("postgres", &format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
        self.url(&name)
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.lock().unwrap_or_else(|e| e.into_inner()).take() {
            // SIGINT: PostgreSQL's fast shutdown.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGINT);
            }
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Gives a file to the user the server runs as (as root: `postgres`), readable by it alone, as
/// PostgreSQL wants of a private key.
pub fn hand_to_server(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    if let RunAs(Some((uid, gid))) = RunAs::for_current_user()? {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
    }
    Ok(())
}

/// The user the server runs as: ourselves, or `postgres` when we are root.
#[derive(Clone, Copy)]
struct RunAs(Option<(libc::uid_t, libc::gid_t)>);

impl RunAs {
    fn for_current_user() -> std::io::Result<RunAs> {
        if unsafe { libc::geteuid() } != 0 {
            return Ok(RunAs(None));
        }
        let name = CString::new("postgres").expect("no NUL");
        let pw = unsafe { libc::getpwnam(name.as_ptr()) };
        if pw.is_null() {
            return Err(std::io::Error::other(
                "running as root and there is no 'postgres' user to run PostgreSQL as",
            ));
        }
        let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
        Ok(RunAs(Some((uid, gid))))
    }

    fn own(&self, path: &Path) -> std::io::Result<()> {
        if let Some((uid, gid)) = self.0 {
            for entry in [path.to_path_buf()].into_iter().chain(
                std::fs::read_dir(path)
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.ok())
                    .map(|e| e.path()),
            ) {
                std::os::unix::fs::chown(&entry, Some(uid), Some(gid))?;
            }
        }
        Ok(())
    }

    fn command(&self, program: PathBuf) -> Command {
        let mut cmd = Command::new(program);
        if let Some((uid, gid)) = self.0 {
            cmd.uid(uid).gid(gid).env("HOME", "/tmp");
        }
        cmd
    }
}
