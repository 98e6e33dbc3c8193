use crate::helpers::spawn_app;
use base64::Engine;
use serde_json::json;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn a_data_file_is_stored_privately_and_read_back() {
    let app = spawn_app().await;
    let content = br#"[{"id": 1}, {"id": 2}]"#;
    let body = json!({"name": "users.json", "description": "ids", "bucket_name": "-", "project_title": "12",
        "scenario_title": "7", "ammo_file": b64(content), "content_type": ""});
    let stored = app.ok("/v1/file/upload", body).await["ammo_file"].clone();
    let key = stored["name"].as_str().unwrap().to_string();
    assert!(key.starts_with("12/7/") && key.ends_with("_users.json"), "{key}");
    assert_eq!(stored["size"], "22");
    assert_eq!(stored["s3_url"], format!("s3://{}/{key}", app.bucket));
    assert_eq!(stored["ammo_file"], b64(content));

    let id = stored["ammo_id"].as_i64().unwrap();
    let read = app.ok("/v1/file/data", json!({"ammo_id": id})).await;
    assert_eq!(read["ammo_file"]["ammo_file"], b64(content));
    let all = app.ok("/v1/files", json!({})).await;
    assert_eq!(all["ammo_files"][0]["name"], key.as_str());

    // The bucket is private: an anonymous GET is refused.
    let endpoint = app.app_state.storage.presign_get(&key, std::time::Duration::from_secs(60)).await.unwrap();
    let unsigned = endpoint.split('?').next().unwrap().to_string();
    let anonymous = reqwest::get(&unsigned).await.unwrap();
    assert!(anonymous.status().is_client_error(), "anonymous read answered {}", anonymous.status());
    let presigned = reqwest::get(&endpoint).await.unwrap();
    assert_eq!(presigned.status(), 200);
    assert_eq!(presigned.bytes().await.unwrap().as_ref(), content);
}

#[tokio::test]
async fn the_bucket_is_browsed_as_a_tree_and_files_are_deleted() {
    let app = spawn_app().await;
    let upload =
        |name: &str| json!({"name": name, "contentType": "text/csv", "data": b64(b"a,b\n1,2\n"), "path": "ignored"});
    let answer = app.post("/v1/s3/uploadFile", upload("data/eu/users.csv")).await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_eq!((answer.1["name"].as_str(), answer.1["size"].as_str()), (Some("data/eu/users.csv"), Some("8")));
    app.post("/v1/s3/uploadFile", upload("top.csv")).await;

    let (status, tree) = app.post_raw("/v1/s3/getBucketList", "").await;
    assert_eq!(status, 200);
    assert_eq!(tree["bucket_name"], app.bucket.as_str());
    let root = &tree["result"];
    assert_eq!((root["type"].as_str(), root["path"].as_str()), (Some("ROOT"), Some("/")));
    let data = root["children"].as_array().unwrap().iter().find(|c| c["name"] == "data").unwrap();
    assert_eq!((data["type"].as_str(), data["level"].as_i64()), (Some("DIR"), Some(1)));
    let file = &data["children"][0]["children"][0];
    assert_eq!((file["type"].as_str(), file["path"].as_str()), (Some("FILE"), Some("/data/eu/users.csv")));
    assert_eq!(file["storage_object"]["size"], "8");

    let (status, deleted) =
        app.post("/v1/s3/deleteBucketFile", json!({"path": "data/eu/users.csv", "bucketName": "x"})).await;
    assert_eq!((status.as_u16(), deleted["path"].as_str()), (200, Some("data/eu/users.csv")));
    app.fails("/v1/s3/deleteBucketFile", json!({"path": "data/eu/users.csv"}), 404, "data/eu/users.csv").await;
    let (_, tree) = app.post_raw("/v1/s3/getBucketList", "").await;
    assert_eq!(tree["result"]["children"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_or_oversized_files_are_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    app.fails("/v1/s3/uploadFile", json!({"name": "", "data": b64(b"x")}), 400, "name").await;
    app.fails("/v1/s3/uploadFile", json!({"name": "../etc/passwd", "data": b64(b"x")}), 422, "name").await;
    app.fails("/v1/s3/uploadFile", json!({"name": "a", "data": "%%%"}), 400, "data").await;
    app.fails("/v1/file/upload", json!({"name": "", "project_title": "p", "scenario_title": "s"}), 400, "name").await;
    let too_big = vec![b'x'; alilo_shared::config::DEFAULT_MAX_UPLOAD_BYTES + 1];
    app.fails("/v1/s3/uploadFile", json!({"name": "big", "data": b64(&too_big)}), 413, "upload limit").await;
    app.fails(
        "/v1/file/upload",
        json!({"name": "big", "project_title": "p", "scenario_title": "s", "ammo_file": b64(&too_big)}),
        413,
        "ammo_file",
    )
    .await;
    let (_, tree) = app.post_raw("/v1/s3/getBucketList", "").await;
    assert_eq!(tree["result"]["children"], json!([]));
    assert_eq!(app.count("ammo_files").await, 0);
    app.fails("/v1/file/data", json!({"ammo_id": 77}), 404, "data file 77").await;
}

#[tokio::test]
async fn storage_input_errors_are_422_or_409_naming_the_field_never_503() {
    let app = spawn_app().await;
    let upload = |name: &str, content_type: &str| json!({"name": name, "contentType": content_type, "data": b64(b"x")});
    let data_file = |name: &str| json!({"name": name, "project_title": "p", "scenario_title": "s", "ammo_file": b64(b"x"), "content_type": ""});
    // Too long for an S3 key: refused before any request, quoting only a prefix.
    let long = "n".repeat(70_000);
    let answer = app.fails("/v1/s3/uploadFile", upload(&long, ""), 422, "name").await;
    assert!(answer["message"].as_str().unwrap().len() < 200, "{answer}");
    app.fails("/v1/file/upload", data_file(&"n".repeat(1_100)), 422, "name").await;
    app.fails("/v1/file/upload", data_file(&long), 422, "name").await;
    // A content type travels as a header: printable ASCII only.
    app.fails("/v1/s3/uploadFile", upload("a.csv", "text/\u{7}csv"), 422, "content_type").await;
    app.fails("/v1/s3/uploadFile", upload("a.csv", "text/csvé"), 422, "content_type").await;
    let mut bad_type = data_file("a.csv");
    bad_type["content_type"] = json!("text/csv\r\nX-Injected: 1");
    app.fails("/v1/file/upload", bad_type, 422, "content_type").await;
    // A key cannot be both a file and a folder.
    app.ok("/v1/s3/uploadFile", upload("conf", "")).await;
    app.fails("/v1/s3/uploadFile", upload("conf/child", ""), 409, "conf").await;
    app.ok("/v1/s3/uploadFile", upload("dir/inner.csv", "")).await;
    app.fails("/v1/s3/uploadFile", upload("dir", ""), 409, "folder").await;

    let (_, tree) = app.post_raw("/v1/s3/getBucketList", "").await;
    let names: Vec<&str> =
        tree["result"]["children"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["conf", "dir"], "only the accepted uploads were stored");
    assert_eq!(app.count("ammo_files").await, 0);
}
