//! A real SMTP server for the tests: Python's `aiosmtpd` (installed by `.ci/run`) running
//! `smtp/sink.py`, which parses every message it accepts with Python's `email` package and
//! writes it as JSON, so a test reads what a mail client would: headers, the text part, the
//! HTML part. It can answer the first messages with a temporary failure (451) and refuse one
//! address for good (550), and require authentication.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SINK: &str = include_str!("smtp/sink.py");

/// How the server behaves.
#[derive(Debug, Clone, Default)]
pub struct SmtpOptions {
    /// The first this many messages get `451 4.3.0 try again later`.
    pub fail_first: u32,
    /// Messages to this address get `550 5.1.1 mailbox unavailable`.
    pub refuse: Option<String>,
    /// AUTH required with this user and password.
    pub auth: Option<(String, String)>,
    /// The first message is received, then its `250` held back this long.
    pub hold_first: Option<Duration>,
    /// TLS with a self-signed certificate for 127.0.0.1 made for this server: STARTTLS
    /// (required), or from the first byte.
    pub tls: Option<Tls>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    Starttls,
    Implicit,
}

/// A running SMTP server; stopped when dropped.
pub struct LocalSmtp {
    pub port: u16,
    /// With TLS: the server's certificate (PEM), for the client to trust (`ca_file`).
    pub certificate: Option<PathBuf>,
    child: Child,
    dir: tempfile::TempDir,
}

impl LocalSmtp {
    /// Starts a server and waits until it listens.
    pub async fn start(options: SmtpOptions) -> Result<LocalSmtp, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let script = dir.path().join("sink.py");
        std::fs::write(&script, SINK).map_err(|e| e.to_string())?;
        let mail = dir.path().join("mail");
        std::fs::create_dir(&mail).map_err(|e| e.to_string())?;
        let port_file = dir.path().join("port");
        let mut cmd = Command::new("python3");
        cmd.arg(&script).arg(&mail).arg(&port_file);
        if options.fail_first > 0 {
            cmd.arg("--fail-first").arg(options.fail_first.to_string());
        }
        if let Some(a) = &options.refuse {
            cmd.arg("--refuse").arg(a);
        }
        let mut certificate = None;
        if let Some(tls) = options.tls {
            let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])
                .map_err(|e| e.to_string())?;
            let cert = dir.path().join("cert.pem");
            let key = dir.path().join("key.pem");
            std::fs::write(&cert, made.cert.pem()).map_err(|e| e.to_string())?;
            std::fs::write(&key, made.key_pair.serialize_pem()).map_err(|e| e.to_string())?;
            cmd.arg("--tls-cert").arg(&cert).arg("--tls-key").arg(&key);
            if tls == Tls::Implicit {
                cmd.arg("--implicit-tls");
            }
            certificate = Some(cert);
        }
        if let Some(hold) = options.hold_first {
            cmd.arg("--hold-first").arg(hold.as_secs_f64().to_string());
        }
        if let Some((user, password)) = &options.auth {
            cmd.arg("--auth").arg(format!("{user}:{password}"));
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("python3 (with aiosmtpd, see .ci/run): {e}"))?;
        let started = crate::wait::until(
            "the SMTP server to listen",
            Duration::from_secs(20),
            Duration::from_millis(20),
            async || port_file.exists(),
        )
        .await;
        if let Err(e) = started {
            let _ = child.kill();
            let exited = child.try_wait().ok().flatten();
            return Err(format!(
                "{e} (python3 exited: {exited:?}; is aiosmtpd installed? pip install aiosmtpd)"
            ));
        }
        let port = std::fs::read_to_string(&port_file)
            .map_err(|e| e.to_string())?
            .trim()
            .parse()
            .map_err(|e| format!("port file: {e}"))?;
        Ok(LocalSmtp {
            port,
            certificate,
            child,
            dir,
        })
    }

    fn mail_dir(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    /// Every message accepted so far, in the order accepted.
    pub fn messages(&self) -> Vec<Value> {
        read_messages(&self.mail_dir())
    }

    /// Waits until at least `n` messages were accepted, and returns them all.
    pub async fn wait_for(&self, n: usize, deadline: Duration) -> Result<Vec<Value>, String> {
        let dir = self.mail_dir();
        crate::wait::until(
            &format!("{n} e-mail(s)"),
            deadline,
            Duration::from_millis(20),
            async || read_messages(&dir).len() >= n,
        )
        .await?;
        Ok(self.messages())
    }
}

impl Drop for LocalSmtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_messages(dir: &Path) -> Vec<Value> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    names.sort();
    names
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect()
}
