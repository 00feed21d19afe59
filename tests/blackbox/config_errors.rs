//! A bad configuration must stop the service before it starts: exit code 2 and one line on
//! stderr naming the offending key, whether the mistake is in the file or in the environment.

use std::process::Command;

fn check(file: Option<&str>, env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = match file {
        Some(text) => {
            let p = dir.path().join("config.toml");
            std::fs::write(&p, text).unwrap();
            p
        }
        None => std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml")),
    };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orderly"));
    cmd.args(["--config", path.to_str().unwrap(), "check-config"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_default_config_is_valid() {
    let (code, err) = check(None, &[]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn bad_values_exit_2_with_one_line_naming_the_key() {
    // (config file text or the default, environment, key the error must name)
    type Case<'a> = (Option<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (None, vec![("ORDERLY_SERVER__WORKERS", "many")], "WORKERS"),
        (
            None,
            vec![("ORDERLY_ENGINE__PAYMENT_TIMEOUT_SECS", "-1")],
            "engine.payment_timeout_secs",
        ),
        (
            None,
            vec![("ORDERLY_SERVER__BIND", "not-an-address")],
            "server.bind",
        ),
        (
            Some("[server]\nbind = \"127.0.0.1:1\"\nbogus = 1\n"),
            vec![],
            "server.bogus",
        ),
        (
            None,
            vec![("ORDERLY_STORAGE__BACKEND", "cassandra")],
            "storage.backend",
        ),
        (
            None,
            vec![("ORDERLY_STORAGE__BACKEND", "postgres")],
            "storage.postgres.url",
        ),
        (
            None,
            vec![
                ("ORDERLY_STORAGE__BACKEND", "postgres"),
                ("ORDERLY_STORAGE__POSTGRES__URL", "postgres://localhost/orderly"),
                ("ORDERLY_STORAGE__POSTGRES__LEASE_SECS", "1"),
            ],
            "lease_secs",
        ),
        (
            None,
            vec![
                ("ORDERLY_STORAGE__BACKEND", "postgres"),
                ("ORDERLY_STORAGE__POSTGRES__URL", "postgres://localhost/orderly"),
                ("ORDERLY_STORAGE__POSTGRES__NODE_ID", " "),
            ],
            "storage.postgres.node_id",
        ),
        (
            Some("[storage]\ndata_dir = \"./data\"\n[storage.postgres]\nurl = \"postgres://x/y\"\nbogus = 1\n"),
            vec![],
            "bogus",
        ),
    ];
    for (file, env, key) in cases {
        let (code, err) = check(file, &env);
        assert_eq!(code, 2, "expected exit 2 for {key}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains(key), "the error names {key}: {err}");
    }
}
