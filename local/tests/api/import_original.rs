//! #14: `alilo-local import-original` (`alilo_shared::original::import`)
//! against an installation of the original built here: its schema as its
//! migrations leave it (the tables, columns and enum types the import reads,
//! in a schema of their own beside ours), rows in it, and a second bucket on
//! the S3 server with a file in the original's layout. The result is checked
//! through the v1 API; a second import changes nothing.

use crate::helpers::{connect_dsn, spawn_app};
use alilo_shared::config::{S3Config, Secret};
use alilo_shared::original::{Source, import};
use alilo_shared::storage::{ObjectKey, Storage};
use serde_json::json;

/// The original's tables as its last migration leaves them (only what the
/// import reads, plus the columns that make a row valid there).
const ORIGINAL_SCHEMA: &str = r#"
CREATE TYPE escheme AS ENUM ('http', 'https', '');
CREATE TYPE ehttp_method AS ENUM ('get', 'post', 'head', 'put', 'patch', 'del');
CREATE TYPE e_source_vmc AS ENUM ('DATASOURCE_VMC_UNSPECIFIED', 'DATASOURCE_VMC_HC');
CREATE TABLE projects (id bigserial PRIMARY KEY, title varchar(300) NOT NULL, descrip text,
    created_at timestamp DEFAULT now() NOT NULL, updated_at timestamp DEFAULT now() NOT NULL, deleted_at timestamp);
CREATE TABLE scenarios (scenario_id bigserial PRIMARY KEY, project_id bigint NOT NULL REFERENCES projects ON DELETE CASCADE,
    title varchar(300) NOT NULL, descrip text, created_at timestamp DEFAULT now() NOT NULL,
    updated_at timestamp DEFAULT now() NOT NULL, deleted_at timestamp, selectors text DEFAULT '[]' NOT NULL);
CREATE TABLE scripts (script_id bigserial PRIMARY KEY, name varchar(300) NOT NULL, descrip text, project_id bigint NOT NULL,
    scenario_id bigint NOT NULL REFERENCES scenarios ON DELETE CASCADE, script_file varchar(300), ammo_id varchar(300),
    base_url varchar(300), options_rps integer, options_steps integer, options_duration text,
    created_at timestamp DEFAULT now() NOT NULL, updated_at timestamp, deleted_at timestamp,
    enabled boolean DEFAULT false NOT NULL, grafana_url text[] DEFAULT '{}' NOT NULL, tag text DEFAULT '' NOT NULL,
    expr_rps text DEFAULT '' NOT NULL, source_rps e_source_vmc DEFAULT 'DATASOURCE_VMC_UNSPECIFIED' NOT NULL, cmt_rps text DEFAULT '' NOT NULL,
    expr_rt text DEFAULT '' NOT NULL, source_rt e_source_vmc DEFAULT 'DATASOURCE_VMC_UNSPECIFIED' NOT NULL, cmt_rt text DEFAULT '' NOT NULL,
    expr_err text DEFAULT '' NOT NULL, source_err e_source_vmc DEFAULT 'DATASOURCE_VMC_UNSPECIFIED' NOT NULL, cmt_err text DEFAULT '' NOT NULL,
    additional_env text DEFAULT '' NOT NULL);
CREATE TABLE simple_scripts (script_id bigserial PRIMARY KEY, name text DEFAULT 'New Script' NOT NULL,
    description text DEFAULT '' NOT NULL, project_id bigint NOT NULL,
    scenario_id bigint NOT NULL REFERENCES scenarios ON DELETE CASCADE, enabled boolean DEFAULT false NOT NULL,
    monitoring_links text[] DEFAULT '{}' NOT NULL, tag text DEFAULT '' NOT NULL, scheme escheme DEFAULT '' NOT NULL,
    path text DEFAULT '' NOT NULL, http_method ehttp_method DEFAULT 'get' NOT NULL, script_file_url text DEFAULT '' NOT NULL,
    static_ammo text DEFAULT '' NOT NULL, ammo_url text DEFAULT '' NOT NULL, is_static_ammo boolean DEFAULT false NOT NULL,
    rps text DEFAULT '' NOT NULL, duration text DEFAULT '' NOT NULL, steps text DEFAULT '' NOT NULL,
    max_v_us text DEFAULT '' NOT NULL, query_params text DEFAULT '[{}]' NOT NULL, headers text DEFAULT '{}' NOT NULL,
    created_at timestamp DEFAULT now() NOT NULL, updated_at timestamp, deleted_at timestamp,
    expr_rps text DEFAULT '' NOT NULL, source_rps e_source_vmc DEFAULT 'DATASOURCE_VMC_UNSPECIFIED' NOT NULL, cmt_rps text DEFAULT '' NOT NULL,
    expr_rt text DEFAULT '' NOT NULL, source_rt e_source_vmc DEFAULT 'DATASOURCE_VMC_UNSPECIFIED' NOT NULL, cmt_rt text DEFAULT '' NOT NULL,
    expr_err text DEFAULT '' NOT NULL, source_err e_source_vmc DEFAULT 'DATASOURCE_VMC_UNSPECIFIED' NOT NULL, cmt_err text DEFAULT '' NOT NULL,
    additional_env text DEFAULT '' NOT NULL);
CREATE TABLE agent (agent_id bigserial PRIMARY KEY, host_name text NOT NULL, port text NOT NULL,
    enabled boolean DEFAULT false NOT NULL, created_at timestamp DEFAULT now() NOT NULL, updated_at timestamp,
    deleted_at timestamp, tags text[] DEFAULT ARRAY[]::text[] NOT NULL, cpu_used bigint DEFAULT 0 NOT NULL,
    mem_used bigint DEFAULT 0 NOT NULL, ports_used bigint DEFAULT 0 NOT NULL, total_loading smallint DEFAULT 0 NOT NULL);

INSERT INTO projects (id, title, descrip) VALUES (1, 'Checkout', 'the shop'), (2, 'Search', NULL);
INSERT INTO projects (id, title, deleted_at) VALUES (3, 'Gone', now());
INSERT INTO scenarios (scenario_id, project_id, title, selectors)
    VALUES (10, 1, 'Black Friday', '[{"name":"cpu","expr":"sum(rate(x[1m]))","source":"prom","cmt":""}]'), (11, 2, 'Nightly', '');
INSERT INTO scripts (script_id, name, project_id, scenario_id, script_file, ammo_id, options_rps, options_steps,
        options_duration, enabled, tag, expr_rps, source_rps, additional_env)
    VALUES (20, 'pay_flow', 1, 10, 'http://minio:9000/alilo/1/10/pay.js', 'http://minio:9000/alilo/1/10/ammo.csv',
        50, 5, '10m', true, 'eu', 'sum(rate(pay[1m]))', 'DATASOURCE_VMC_HC', '{"TOKEN":"t"}'),
        (21, 'broken', 1, 10, '', '', NULL, NULL, '', false, '', '', 'DATASOURCE_VMC_UNSPECIFIED', '');
INSERT INTO simple_scripts (script_id, name, description, project_id, scenario_id, enabled, tag, scheme, path,
        http_method, ammo_url, rps, duration, steps, max_v_us, query_params, headers)
    VALUES (30, 'get_items', 'list', 2, 11, true, 'eu', '', 'shop.example/api/items', 'post',
        'http://minio:9000/alilo/1/10/ammo.csv', '25', '5m', '1', '40', '[{"key":"page","value":"2"}]',
        '{"Accept":"application/json"}');
INSERT INTO agent (agent_id, host_name, port, enabled, tags) VALUES (1, 'load-1.internal', '8888', true, '{eu,nightly}'),
    (2, 'load-2.internal', 'eighty', true, '{}');
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_originals_rows_and_files_come_over_once_with_ids_kept_where_free() {
    let app = spawn_app().await;
    // Already here: project 1, so the original's project 1 gets a new id.
    let ours = app.create_project("Ours").await;
    assert_eq!(ours, 1);

    let schema = format!("orig_{}", &app.schema[2..14]);
    let db = connect_dsn(&app.dsn).await;
    let bucket = format!("orig-{}", &app.schema[2..14]);
    // Its file links name its bucket.
    let fixture = ORIGINAL_SCHEMA.replace("/alilo/", &format!("/{bucket}/"));
    db.batch_execute(&format!("CREATE SCHEMA {schema}; SET search_path TO {schema}; {fixture}")).await.unwrap();
    let s3 = |bucket: &str| S3Config {
        endpoint: Some(std::env::var("ALILO_TEST_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5080".into())),
        access_key: Secret::new(std::env::var("ALILO_TEST_S3_ACCESS_KEY").unwrap_or_else(|_| "test".into())),
        secret_key: Secret::new(std::env::var("ALILO_TEST_S3_SECRET_KEY").unwrap_or_else(|_| "test".into())),
        session_token: None,
        bucket: bucket.into(),
        secure: false,
        region: "us-east-1".into(),
    };
    let original_files = Storage::connect(&s3(&bucket)).await.expect("the original's bucket");
    original_files.put(&ObjectKey::Browser("1/10/ammo.csv".into()), b"id\n1\n2\n".to_vec(), "text/csv").await.unwrap();
    let source = || Source {
        dsn: app.dsn.clone(),
        schema: schema.clone(),
        files: Some(Storage::reader(&s3(&bucket))),
        bucket: bucket.clone(),
    };

    let report = import(&app.app_state, &source()).await.expect("the import runs");
    let created = |k: &str| report.created.get(k).copied().unwrap_or(0);
    assert_eq!(
        (created("project"), created("scenario"), created("script"), created("simple_script"), created("agent")),
        (2, 2, 1, 1, 1),
        "{report:?}"
    );
    let checkout = report.remapped.iter().find(|(k, from, _)| k == "project" && *from == 1).expect("project 1 moved").2;
    assert!(checkout > 2, "a new id past ours and the original's: {report:?}");
    let skipped: Vec<(&str, i64)> = report.skipped.iter().map(|(k, id, _)| (k.as_str(), *id)).collect();
    assert_eq!(skipped, vec![("script", 21), ("agent", 2)], "{report:?}");
    assert!(report.skipped[0].2.contains("rps"), "{report:?}");
    assert_eq!((report.files_copied, report.files_present), (1, 0));

    // Through the API, as a user of the UI sees them.
    let projects = app.ok("/v1/projects", json!({})).await;
    let titles: Vec<&str> =
        projects["projects"].as_array().unwrap().iter().filter_map(|p| p["title"].as_str()).collect();
    assert!(titles.contains(&"Checkout") && titles.contains(&"Search") && !titles.contains(&"Gone"), "{projects}");
    let search = app.ok("/v1/project", json!({"id": 2})).await;
    assert_eq!(search["project"]["title"], "Search", "id 2 was free: kept");
    let scenarios = app.ok("/v1/scenarios", json!({"project_id": checkout})).await;
    assert_eq!(scenarios["scenarios"][0]["title"], "Black Friday", "{scenarios}");
    assert_eq!(scenarios["scenarios"][0]["scenario_id"], 10);
    let scripts = app.ok("/v1/scripts", json!({"scenario_id": 10})).await;
    let pay = &scripts["scripts"][0];
    assert_eq!((pay["script_id"].as_i64(), pay["name"].as_str()), (Some(20), Some("pay_flow")), "{scripts}");
    assert_eq!(pay["options"]["rps"], "50");
    assert_eq!(pay["script_file"], format!("s3://{}/1/10/pay.js", app.bucket), "links point into our bucket");
    assert_eq!(pay["selectors"]["expr_rps"], "sum(rate(pay[1m]))");
    let simple = app.ok("/v1/simple-script", json!({"simple_script_id": 30})).await["simple_script"].clone();
    assert_eq!(
        (simple["name"].as_str(), simple["http_method"].as_str()),
        (Some("get_items"), Some("post")),
        "{simple}"
    );
    assert_eq!((simple["rps"].as_str(), simple["max_v_us"].as_str()), (Some("25"), Some("40")), "{simple}");
    assert_eq!(simple["ammo_url"], format!("s3://{}/1/10/ammo.csv", app.bucket));
    assert_eq!(simple["headers"]["Accept"], "application/json");
    let agents = app.ok("/v1/agents", json!({})).await;
    let agent = &agents["agents"][0];
    assert_eq!(
        (agent["host_name"].as_str(), agent["port"].as_str()),
        (Some("load-1.internal"), Some("8888")),
        "{agents}"
    );
    assert_eq!(agent["tags"], json!(["eu", "nightly"]));
    assert_eq!(app.app_state.storage.get("1/10/ammo.csv").await.unwrap().as_deref(), Some(&b"id\n1\n2\n"[..]));
    // New rows here get ids past the imported ones.
    let next = app.create_project("After").await;
    assert!(next > checkout, "{next} after {checkout}");

    // Again: nothing changes.
    let before = counts(&app).await;
    let again = import(&app.app_state, &source()).await.unwrap();
    assert!(again.created.is_empty(), "{again:?}");
    assert_eq!(again.already.values().sum::<usize>(), 7, "{again:?}");
    assert_eq!((again.files_copied, again.files_present), (0, 1));
    assert_eq!(counts(&app).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_the_target_allow_list_refuses_are_left_behind_and_named() {
    // Only shop.example may be loaded: the original also has a simple script at an
    // internal address, an extended script against the cloud's metadata endpoint
    // and a simple script reading its data from an internal host.
    let app = crate::helpers::spawn_app_with(|s| s.allowed_targets = Some("shop.example".into())).await;
    let schema = format!("orig_{}", &app.schema[2..14]);
    let bucket = format!("orig-{}", &app.schema[2..14]);
    let fixture = ORIGINAL_SCHEMA.replace("/alilo/", &format!("/{bucket}/"));
    let extra = r#"
INSERT INTO simple_scripts (script_id, name, project_id, scenario_id, enabled, path, rps, duration, steps, max_v_us)
    VALUES (31, 'admin', 2, 11, true, '10.0.0.5:8080/admin', '5', '1m', '1', '10');
INSERT INTO simple_scripts (script_id, name, project_id, scenario_id, enabled, path, ammo_url, rps, duration, steps, max_v_us)
    VALUES (32, 'exfiltrate', 2, 11, true, 'shop.example/q', 'http://intranet.corp/secret.json', '5', '1m', '1', '10');
INSERT INTO scripts (script_id, name, project_id, scenario_id, base_url, options_rps, options_steps, options_duration)
    VALUES (22, 'metadata', 1, 10, 'http://169.254.169.254', 5, 1, '1m');
"#;
    connect_dsn(&app.dsn)
        .await
        .batch_execute(&format!("CREATE SCHEMA {schema}; SET search_path TO {schema}; {fixture} {extra}"))
        .await
        .unwrap();
    let source = || Source { dsn: app.dsn.clone(), schema: schema.clone(), files: None, bucket: bucket.clone() };

    let report = import(&app.app_state, &source()).await.expect("the import runs");
    let refused: Vec<(&str, i64)> = report.refused.iter().map(|(k, id, _)| (k.as_str(), *id)).collect();
    assert_eq!(refused, vec![("script", 22), ("simple_script", 31), ("simple_script", 32)], "{report:?}");
    let why = |i: usize| report.refused[i].2.as_str();
    assert!(why(0).starts_with("script.base_url") && why(0).contains("\"169.254.169.254\""), "{report:?}");
    assert!(why(1).starts_with("simple_script.path") && why(1).contains("\"10.0.0.5\""), "{report:?}");
    assert!(why(2).starts_with("simple_script.ammo_url") && why(2).contains("intranet.corp"), "{report:?}");
    assert!((0..3).all(|i| why(i).contains("ALILO_ALLOWED_TARGETS")), "{report:?}");
    // The allowed ones came over; the refused ones are not here.
    let created = |k: &str| report.created.get(k).copied().unwrap_or(0);
    assert_eq!((created("script"), created("simple_script")), (1, 1), "{report:?}");
    let here = connect_dsn(&app.dsn).await;
    let names: Vec<String> = here
        .query("SELECT name FROM simple_scripts UNION ALL SELECT name FROM scripts ORDER BY 1", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(names, ["get_items", "pay_flow"]);

    // Again: still refused, nothing else changes.
    let again = import(&app.app_state, &source()).await.unwrap();
    assert_eq!(again.refused.len(), 3, "{again:?}");
    assert!(again.created.is_empty(), "{again:?}");
}

/// Rows of the tables an import fills.
async fn counts(app: &crate::helpers::TestApp) -> Vec<i64> {
    let mut n = Vec::new();
    for t in ["projects", "scenarios", "scripts", "simple_scripts", "agents"] {
        n.push(app.count(t).await);
    }
    n
}
