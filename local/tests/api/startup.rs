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

/// #14: logs redirected to a file or a pipe carry no ANSI colour codes.
#[tokio::test]
async fn logs_written_to_a_pipe_have_no_colour_codes() {
    use std::io::{BufRead, BufReader};
    let app = crate::helpers::spawn_app().await; // a migrated schema and a bucket to point the binary at
    let data_dir = std::env::temp_dir().join(format!("alilo-log-{}", app.schema));
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_alilo-local"));
    command
        .args(["--port", "0", "--no-agent", "--pg-dsn", &app.dsn, "--minio-bucket", &app.bucket])
        .arg("--data-dir")
        .arg(&data_dir)
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Ok(endpoint) = std::env::var("ALILO_TEST_S3_ENDPOINT") {
        command.args(["--minio-endpoint", &endpoint]);
        command.args(["--minio-access-key-id", &std::env::var("ALILO_TEST_S3_ACCESS_KEY").unwrap_or("test".into())]);
        command
            .args(["--minio-secret-access-key", &std::env::var("ALILO_TEST_S3_SECRET_KEY").unwrap_or("test".into())]);
    }
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    // Read until the startup line, on a thread: a blocking read with a bound.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let done = line.contains("Alilo API on");
            let _ = tx.send(line);
            if done {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(20)) {
        let done = line.contains("Alilo API on");
        lines.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&data_dir);
    assert!(lines.iter().any(|l| l.contains("Alilo API on")), "no startup line: {lines:?}");
    assert!(lines.iter().all(|l| !l.contains('\u{1b}')), "ANSI codes in piped logs: {lines:?}");
}
