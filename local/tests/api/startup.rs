//! How `alilo-local` starts and refuses to start.

#[test]
fn an_unreachable_postgres_is_one_line_naming_the_dsn_without_its_password() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_alilo-local"))
        .args(["--pg-dsn", "postgres://alice:s3cret@127.0.0.1:1/alilo", "--port", "0"])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot connect to Postgres at postgres://alice:***@127.0.0.1:1/alilo"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
}

#[test]
fn a_malformed_setting_names_the_variable() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_alilo-local"))
        .args(["--port", "0"])
        .env("MINIO_SECURE", "perhaps")
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("MINIO_SECURE=\"perhaps\" is invalid"), "{stderr}");
}
