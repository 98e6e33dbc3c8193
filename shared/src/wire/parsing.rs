//! ParsingService shapes.

use super::de;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct ParseCurlRequest {
    #[serde(deserialize_with = "de::string")]
    #[schema(required = true)]
    pub curl: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ParseCurlResponse {
    pub status: bool,
    pub message: String,
    /// A string holding JSON: method, url, query_params, headers, body.
    pub json: String,
}

/// Declares an import request: the struct's own fields, then the load
/// profile and placement of the scripts it creates ([`ImportProfile`], read
/// with `profile()`). A macro rather than a `#[serde(flatten)]`ed
/// `ImportProfile`: inside a flattened struct a wrong type's 400 said "body:
/// not valid JSON" instead of naming the field.
macro_rules! import_request {
    ($(#[$attr:meta])* pub struct $name:ident { $($fields:tt)* }) => {
        $(#[$attr])*
        pub struct $name {
            $($fields)*
            #[serde(deserialize_with = "de::numeric_string")]
            pub rps: String,
            #[serde(deserialize_with = "de::numeric_string")]
            pub steps: String,
            #[serde(deserialize_with = "de::string")]
            pub duration: String,
            #[serde(alias = "maxVUs", deserialize_with = "de::numeric_string")]
            pub max_v_us: String,
            #[serde(deserialize_with = "de::string")]
            pub tag: String,
            /// Imported scripts start disabled unless `enabled` is true.
            #[serde(deserialize_with = "de::boolean")]
            pub enabled: bool,
        }

        impl $name {
            /// The load profile and placement of the scripts it creates.
            pub fn profile(&self) -> ImportProfile {
                ImportProfile {
                    rps: self.rps.clone(),
                    steps: self.steps.clone(),
                    duration: self.duration.clone(),
                    max_v_us: self.max_v_us.clone(),
                    tag: self.tag.clone(),
                    enabled: self.enabled,
                }
            }
        }
    };
}

import_request! {
/// Import a cURL command into a scenario as a new simple script. The load profile
/// fields are optional: the script starts small (1 RPS for 1 minute) until edited.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct ImportCurlRequest {
    #[serde(alias = "scenarioId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub scenario_id: i32,
    #[serde(deserialize_with = "de::string")]
    #[schema(required = true)]
    pub curl: String,
    /// The script's name; default `<METHOD> <path>`.
    #[serde(deserialize_with = "de::string")]
    pub name: String,
}
}

/// Load profile and placement of imported scripts (as the request gave them).
#[derive(Debug, Default, Clone)]
pub struct ImportProfile {
    pub rps: String,
    pub steps: String,
    pub duration: String,
    pub max_v_us: String,
    pub tag: String,
    pub enabled: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportCurlResponse {
    pub status: bool,
    pub message: String,
    pub simple_script: Option<super::scripts::SimpleScript>,
}

import_request! {
/// Import the requests of a HAR file (as exported by browser DevTools) into a
/// scenario, one simple script per distinct request.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct ImportHarRequest {
    #[serde(alias = "scenarioId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub scenario_id: i32,
    /// The HAR document: a JSON object, or a string holding it.
    #[schema(value_type = Object)]
    #[schema(required = true)]
    pub har: serde_json::Value,
    /// Only requests to these hosts (`host` or `host:port`); empty = all.
    #[serde(deserialize_with = "de::strings")]
    pub hosts: Vec<String>,
    /// Resource types to keep; empty = xhr, fetch and document.
    #[serde(alias = "resourceTypes", deserialize_with = "de::strings")]
    pub resource_types: Vec<String>,
}
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HarSkipped {
    pub method: String,
    pub url: String,
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportHarResponse {
    pub status: bool,
    pub message: String,
    pub created: Vec<super::scripts::SimpleScript>,
    pub skipped: Vec<HarSkipped>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_json;

    #[test]
    fn an_import_requests_profile_fields_are_read_and_named_when_wrong() {
        let body = bytes::Bytes::from_static(
            br#"{"scenario_id": 1, "curl": "curl x", "rps": 5, "steps": "2", "duration": "1m", "maxVUs": 7,
                 "tag": "t", "enabled": true}"#,
        );
        let p = parse_json::<ImportCurlRequest>(&body).unwrap().profile();
        assert_eq!(
            (p.rps.as_str(), p.steps.as_str(), p.duration.as_str(), p.max_v_us.as_str(), p.tag.as_str(), p.enabled),
            ("5", "2", "1m", "7", "t", true)
        );
        let e = parse_json::<ImportCurlRequest>(&bytes::Bytes::from_static(br#"{"rps": true}"#)).unwrap_err();
        assert!(e.message.starts_with("rps: "), "{e:?}");
        let e = parse_json::<ImportHarRequest>(&bytes::Bytes::from_static(br#"{"enabled": "yes"}"#)).unwrap_err();
        assert!(e.message.starts_with("enabled: "), "{e:?}");
    }
}
