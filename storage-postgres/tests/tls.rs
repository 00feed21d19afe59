//! TLS to PostgreSQL with rustls, against a real server with `ssl=on` and a certificate from a
//! throwaway authority (made with the `openssl` command): with the authority in `ca_file` the
//! node connects over TLS (the server's `pg_stat_ssl` says so) and works; without it, the
//! server's certificate is refused and the storage does not open.

use orderly_storage::conformance::{new_order, t0, wait, Step};
use orderly_storage::roles::*;

use orderly_storage_postgres::{PostgresConfig, PostgresStorage};
use orderly_testkit::postgres::{hand_to_server, shared_or_skip, Durability, TestPostgres};
use std::path::Path;
use std::process::Command;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A certificate authority and a server certificate for 127.0.0.1 signed by it.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=Orderly test authority",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}

#[test]
fn connects_over_tls_and_verifies_the_server() {
    if shared_or_skip("connects_over_tls_and_verifies_the_server").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    certificates(dir.path());
    for f in ["server.key", "server.crt"] {
        hand_to_server(&dir.path().join(f)).unwrap();
    }
    let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
    let pg = TestPostgres::start_with_settings(
        Durability::Relaxed,
        &[
            ("ssl", "on"),
            ("ssl_cert_file", cert.to_str().unwrap()),
            ("ssl_key_file", key.to_str().unwrap()),
        ],
    )
    .expect("PostgreSQL is installed")
    .expect("a server with TLS starts");
    let url = format!("{}?sslmode=require", pg.create_database("tls"));

    // Trusting the authority: connects over TLS and works.
    let mut config = PostgresConfig::new(url.clone(), "tls-node");
    config.ca_file = Some(dir.path().join("ca.crt"));
    let store = PostgresStorage::open(config).expect("opens over TLS");
    let placed = Step::place(
        new_order(&[("SKU-1", 1)], orderly_domain::PaymentMethod::Cod),
        t0(),
    );
    wait(store.commit_transition(&placed.write()).unwrap());
    assert_eq!(
        store.load_order(placed.after.id).unwrap(),
        Some(placed.after.clone())
    );
    let db = url.rsplit('/').next().unwrap().split('?').next().unwrap();
    let encrypted = pg
        .psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
                 WHERE datname = '{db}' AND ssl AND application_name <> 'psql'"
            ),
        )
        .unwrap();
    let unencrypted = pg
        .psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
                 WHERE datname = '{db}' AND NOT ssl"
            ),
        )
        .unwrap();
    assert!(
        encrypted.trim().parse::<u32>().unwrap() >= 1,
        "the node's connections use TLS: {encrypted}"
    );
    assert_eq!(unencrypted.trim(), "0", "no connection without TLS");
    drop(store);

    // Without the authority the server's certificate is not trusted: nothing opens.
    let refused = PostgresStorage::open(PostgresConfig::new(url, "tls-node-2"));
    let err = refused
        .err()
        .expect("an untrusted server certificate is refused");
    assert!(
        err.to_string().to_lowercase().contains("certificate")
            || format!("{err:?}").to_lowercase().contains("certificate"),
        "the error says why: {err:?}"
    );
}
