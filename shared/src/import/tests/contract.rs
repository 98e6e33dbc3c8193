//! The v1 contract's `json` string for `POST /v1/parsing/CUrl`.

use super::super::{contract_json, parse_curl};

#[test]
fn a_form_post_renders_as_the_contract_says() {
    let req = parse_curl("curl -d 'a=1&b=x y' 'https://api.example.com/v1/items?page=2&q=caf%C3%A9'").unwrap();
    assert_eq!(
        contract_json(&req),
        r#"{
  "method": "POST",
  "url": "https://api.example.com/v1/items",
  "query_params": [
    {
      "key": "page",
      "value": "2"
    },
    {
      "key": "q",
      "value": "café"
    }
  ],
  "headers": {
    "Content-Type": "application/x-www-form-urlencoded"
  },
  "body": "a=1&b=x y"
}
"#
    );
}

#[test]
fn a_get_has_an_empty_body_and_headers_keep_their_order() {
    let req = parse_curl("curl -H 'Z-Last: 1' -H 'A-First: 2' https://example.com").unwrap();
    assert_eq!(
        contract_json(&req),
        r#"{
  "method": "GET",
  "url": "https://example.com/",
  "query_params": [],
  "headers": {
    "Z-Last": "1",
    "A-First": "2"
  },
  "body": ""
}
"#
    );
}

#[test]
fn json_bodies_are_compacted_and_repeated_headers_joined() {
    let req = parse_curl(
        "curl -H 'Accept: a/b' -H 'accept: c/d' -H 'Cookie: x=1' -b 'y=2' -H 'Cookie: z=3' \
         --json '{ \"name\": \"a b\",\n  \"list\": [1, 2] }' https://example.com/api",
    )
    .unwrap();
    let json = contract_json(&req);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["body"], r#"{"name":"a b","list":[1,2]}"#);
    assert_eq!(value["headers"]["Accept"], "a/b, c/d");
    assert_eq!(value["headers"]["Cookie"], "x=1; z=3");
    assert_eq!(value["headers"]["Content-Type"], "application/json");
    assert!(json.ends_with("}\n"));
}
