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

#[test]
fn bad_warehouses_allocation_and_bound_keys_exit_2_naming_the_key() {
    let base = include_str!("../../config.toml");
    // Replaces the first occurrence of `from` (which must be there) in the default config.
    let with = |from: &str, to: &str| {
        assert!(base.contains(from), "config.toml has {from:?}");
        base.replacen(from, to, 1)
    };
    let bound = |warehouses: &str| {
        with(
            "warehouse = [\"dev-warehouse-key-00001\"]",
            &format!("warehouse = [\"dev-warehouse-key-00001\", {{ key = \"test-warehouse-key-0001\", warehouses = {warehouses} }}]"),
        )
    };
    // (config file text, environment, key the error must name)
    type Case<'a> = (String, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            with("id = \"ams\"", "id = \"a m s\""),
            vec![],
            "warehouses[0].id",
        ),
        (
            with("id = \"rtm\"", "id = \"ams\""),
            vec![],
            "warehouses[1].id",
        ),
        (
            with(
                "name = \"Amsterdam\"\ncountry = \"NL\"",
                "name = \"Amsterdam\"\ncountry = \"nl\"",
            ),
            vec![],
            "warehouses[0].country",
        ),
        (
            with(
                "ships_to = [\"NL\", \"BE\", \"DE\"]",
                "ships_to = [\"NL\", \"Belgium\"]",
            ),
            vec![],
            "warehouses[1].ships_to",
        ),
        (
            with(
                "time_zone = \"Europe/Amsterdam\"",
                "time_zone = \"Europe/Amsterdan\"",
            ),
            vec![],
            "warehouses[0].time_zone",
        ),
        (
            with(
                "cutoff = \"16:00\"\nworking_days",
                "cutoff = \"25:00\"\nworking_days",
            ),
            vec![],
            "warehouses[1].cutoff",
        ),
        (
            with(
                "working_days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\"]\nhandling_days",
                "working_days = [\"mon\", \"funday\"]\nhandling_days",
            ),
            vec![],
            "warehouses[1].working_days",
        ),
        (
            with(
                "working_days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\"]\nhandling_days",
                "working_days = []\nhandling_days",
            ),
            vec![],
            "warehouses[1].working_days",
        ),
        (
            with("name = \"Amsterdam\"", "name = \" \""),
            vec![],
            "warehouses[0].name",
        ),
        (with("priority = 1", "priority = -1"), vec![], "priority"),
        (
            with(
                "cutoff = \"17:00\"\nholidays",
                "cutoff = \"17:00\"\ndock = 3\nholidays",
            ),
            vec![],
            "dock",
        ),
        (
            with("\nstrategy = \"priority\"", "\nstrategy = \"nearest\""),
            vec![],
            "allocation.strategy",
        ),
        (
            base.to_string(),
            vec![("ORDERLY_ALLOCATION__STRATEGY", "nearest")],
            "ALLOCATION.STRATEGY",
        ),
        (
            with("allow_split = true", "allow_split = \"sometimes\""),
            vec![],
            "allocation.allow_split",
        ),
        (
            bound("[\"ams\", \"ghent\"]"),
            vec![],
            "auth.warehouse[1].warehouses",
        ),
        (bound("[]"), vec![], "auth.warehouse[1].warehouses"),
        (
            with(
                "warehouse = [\"dev-warehouse-key-00001\"]",
                "warehouse = [{ key = \"short\", warehouses = [\"ams\"] }]",
            ),
            vec![],
            "auth.warehouse",
        ),
    ];
    for (file, env, key) in cases {
        let (code, err) = check(Some(&file), &env);
        assert_eq!(code, 2, "expected exit 2 for {key}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains(key), "the error names {key}: {err}");
    }
    // Running open (no warehouses), a bound key may name any warehouse id.
    let open = bound("[\"ghent\"]")
        .split("\n[[warehouses]]")
        .next()
        .expect("text before the warehouses")
        .to_string();
    let (code, err) = check(Some(&open), &[]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn bad_rates_rules_deadlines_and_exception_policy_exit_2_naming_the_field() {
    let base = include_str!("../../config.toml");
    let with = |from: &str, to: &str| {
        assert!(base.contains(from), "config.toml has {from:?}");
        base.replacen(from, to, 1)
    };
    let cases: Vec<(String, &str)> = vec![
        (
            with(
                "{ up_to_grams = 10000, price = 995 }",
                "{ up_to_grams = 1000, price = 995 }",
            ),
            "carriers[0].services[0].rates.zones[0].bands[1].up_to_grams",
        ),
        (
            with("cash_on_delivery = 250", "cash_on_delivery = -250"),
            "carriers[0].services[0].rates.cash_on_delivery",
        ),
        (
            with(
                "{ name = \"nl\", countries = [\"NL\"]",
                "{ name = \"nl\", countries = [\"Netherlands\"]",
            ),
            "carriers[0].services[1].rates.zones[0].countries",
        ),
        (
            with(
                "[carriers.services.rates]\ncurrency = \"EUR\"\nzones = [\n  { name = \"nl\"",
                "[carriers.services.rates]\ncurrency = \"USD\"\nzones = [\n  { name = \"nl\"",
            ),
            "carriers[0].services[1].rates.currency",
        ),
        (
            with(
                "[carriers.services.rates]\ncurrency = \"EUR\"\ncash_on_delivery",
                "[carriers.services.rates]\ncurrency = \"EURO\"\ncash_on_delivery",
            ),
            "currency",
        ),
        (
            with("service = \"standard\" }] }", "service = \"sameday\" }] }"),
            "carrier_rules[0].choose.prefer",
        ),
        (
            with(
                "working_days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\"]\n",
                "working_days = [\"mon\", \"someday\"]\n",
            ),
            "carriers[0].working_days",
        ),
        (
            with("min_transit_days = 2", "min_transit_days = 4"),
            "carriers[1].services[0].min_transit_days",
        ),
        (
            with("handling_days = 1", "handling_days = -1"),
            "handling_days",
        ),
        (
            with(
                "name = \"cheapest\"\nchoose = \"cheapest\"",
                "name = \"cheapest\"\nwhen = { countries = [\"NL\"] }\nchoose = \"cheapest\"",
            ),
            "carrier_rules[1].when",
        ),
        (
            with(
                "name = \"cheapest\"\nchoose = \"cheapest\"",
                "name = \"cheapest\"\nchoose = \"nearest\"",
            ),
            "carrier_rules",
        ),
        (
            with(
                "when = { cash_on_delivery = true }",
                "when = { cod = true }",
            ),
            "cod",
        ),
        (
            with(
                "working_hours = \"07:00-22:00\"",
                "working_hours = \"22:00-07:00\"",
            ),
            "warehouses[1].working_hours",
        ),
        (
            with("pick_pack_hours = 16", "pick_pack_hours = 0"),
            "warehouses[0].pick_pack_hours",
        ),
        (
            with("answer_within_secs = 172800", "answer_within_secs = 0"),
            "delivery_exceptions.answer_within_secs",
        ),
        (
            with("max_attempts = 3\n", "max_attempts = 11\n"),
            "delivery_exceptions.max_attempts",
        ),
    ];
    for (file, key) in cases {
        let (code, err) = check(Some(&file), &[]);
        assert_eq!(code, 2, "expected exit 2 for {key}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains(key), "the error names {key}: {err}");
    }
}

#[test]
fn bad_message_settings_and_templates_exit_2_naming_the_key_file_and_line() {
    let base = include_str!("../../config.toml");
    let under_notifications = |lines: &str| {
        assert!(base.contains("[notifications]\n"));
        base.replacen(
            "[notifications]\n",
            &format!("[notifications]\n{lines}\n"),
            1,
        )
    };
    let email = |lines: &str| {
        let from = if lines.contains("from =") {
            ""
        } else {
            "from = \"Shop <shop@example.com>\"\n"
        };
        format!("{base}\n[notifications.email]\nhost = \"smtp.example.com\"\n{from}{lines}\n")
    };
    let templates = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(templates.path().join("ro")).unwrap();
    std::fs::write(
        templates.path().join("ro/shipped.sms.txt"),
        "Comanda {{ order.number }}\n{{ refund }}\n",
    )
    .unwrap();
    let templates_dir = format!("templates_dir = {:?}", templates.path().to_str().unwrap());
    // (config file text, what the one line must say)
    let cases: Vec<(String, &str)> = vec![
        (
            under_notifications("default_locale = \"fr\""),
            "notifications.default_locale",
        ),
        (
            under_notifications("tracking_url = \"https://shop.example/track\""),
            "notifications.tracking_url",
        ),
        (
            under_notifications("routes = { shiped = [\"customer\"] }"),
            "notifications.routes.shiped",
        ),
        (
            under_notifications("routes = { shipped = [\"email\"] }"),
            "channel 'email' is not configured",
        ),
        (
            under_notifications("routes = { pick_pack_late = [\"customer\"] }"),
            "notifications.routes.pick_pack_late",
        ),
        (
            under_notifications(&templates_dir),
            "ro/shipped.sms.txt:2: uses 'refund'",
        ),
        (
            email("from = \"not an address\""),
            "notifications.email.from",
        ),
        (
            email("security = \"none\"\nusername = \"u\"\npassword = \"p\""),
            "notifications.email.security",
        ),
        (email("username = \"u\""), "username and password"),
        (email("pool_size = 0"), "notifications.email.pool_size"),
        (
            email("unsubscribe = \"http://shop.example/u\""),
            "notifications.email.unsubscribe",
        ),
        (
            email("ca_file = \"/nonexistent/ca.pem\""),
            "notifications.email: ca_file",
        ),
        (
            format!("{base}\n[notifications.operations]\nemail = [\"ops@example.com\"]\n"),
            "notifications.operations.email",
        ),
        (
            format!("{base}\n[notifications.sms]\npreset = \"twilio\"\nusername = \"AC1\"\npassword = \"t\"\n"),
            "notifications.sms.from",
        ),
        (
            format!("{base}\n[notifications.whatsapp]\npreset = \"whatsapp_cloud\"\nurl = \"https://graph.facebook.com/v21.0/1/messages\"\n"),
            "notifications.whatsapp: the whatsapp_cloud preset needs token",
        ),
        (
            format!("{base}\n[notifications.sms]\nurl = \"http://sms.example/send\"\nfields = {{ to = \"{{to}}\", body = \"{{body}}\" }}\n"),
            "unknown placeholder {body}",
        ),
        (
            under_notifications("customer_channel = \"fax\""),
            "notifications.customer_channel",
        ),
    ];
    for (file, says) in cases {
        let (code, err) = check(Some(&file), &[]);
        assert_eq!(code, 2, "expected exit 2 for {says}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains(says), "the error says {says}: {err}");
    }
    // A good e-mail section passes.
    let (code, err) = check(Some(&email("port = 2525")), &[]);
    assert_eq!(code, 0, "{err}");
}
