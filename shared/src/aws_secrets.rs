//! Secrets read from AWS Secrets Manager at cold start, so that they never sit in
//! a function's configuration (where anyone allowed to read it would see them).
//!
//! For each variable below, `<NAME>_SECRET_ARN` names a secret whose value
//! becomes `<NAME>`. A DSN secret may be a plain DSN or the JSON that RDS and
//! Secrets Manager's rotation keep (`username`, `password`, `host`, `port`,
//! `dbname`); `PGSSLMODE` then says how to use TLS, and `ALILO_PG_HOST` (an RDS
//! Proxy's endpoint) replaces its `host`. Nothing is asked of AWS when
//! no `*_SECRET_ARN` is set (alilo-local, tests).

use crate::config::Vars;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use std::collections::HashMap;

/// The variables that may come from a secret.
pub const SECRET_VARS: &[&str] = &["PG_DSN", "ALILO_AGENT_KEY", "ALILO_FLEET_TOKEN", "ALILO_METRICS_TOKEN"];

/// The process's variables with the secrets' values over them.
pub struct WithSecrets<'a, V: Vars> {
    base: &'a V,
    secrets: HashMap<String, String>,
}

impl<V: Vars> Vars for WithSecrets<'_, V> {
    fn var(&self, name: &str) -> Option<String> {
        self.secrets.get(name).cloned().or_else(|| self.base.var(name))
    }
}

/// The name of the variable holding the secret for `name`.
pub fn arn_var(name: &str) -> String {
    format!("{name}_SECRET_ARN")
}

/// Read every secret `vars` names; an error names the variable and the secret.
pub async fn resolve<V: Vars>(vars: &V) -> Result<WithSecrets<'_, V>, String> {
    let wanted: Vec<(&str, String)> = SECRET_VARS
        .iter()
        .filter_map(|name| vars.var(&arn_var(name)).map(|arn| (*name, arn.trim().to_string())))
        .collect();
    let mut secrets = HashMap::new();
    if wanted.is_empty() {
        return Ok(WithSecrets { base: vars, secrets });
    }
    let client = client(vars);
    for (name, arn) in wanted {
        let value = client
            .get_secret_value()
            .secret_id(&arn)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "{}: cannot read secret {arn:?}: {}",
                    arn_var(name),
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                )
            })?
            .secret_string
            .ok_or_else(|| format!("{}: secret {arn:?} has no SecretString", arn_var(name)))?;
        let value = if name == "PG_DSN" {
            dsn_from_secret(&value, vars.var("ALILO_PG_HOST").as_deref())
                .map_err(|e| format!("{}: secret {arn:?}: {e}", arn_var(name)))?
        } else {
            value.trim().to_string()
        };
        secrets.insert(name.to_string(), value);
    }
    Ok(WithSecrets { base: vars, secrets })
}

/// A Secrets Manager client from the standard AWS variables (a Lambda function's
/// role credentials arrive in them); `ALILO_SECRETS_ENDPOINT` points it elsewhere
/// (tests: moto).
pub fn client(vars: &impl Vars) -> aws_sdk_secretsmanager::Client {
    let credentials = Credentials::new(
        vars.var("AWS_ACCESS_KEY_ID").unwrap_or_default(),
        vars.var("AWS_SECRET_ACCESS_KEY").unwrap_or_default(),
        vars.var("AWS_SESSION_TOKEN"),
        None,
        "alilo-environment",
    );
    let http = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    let mut builder = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(vars.var("AWS_REGION").unwrap_or_else(|| "us-east-1".into())))
        .credentials_provider(credentials)
        .http_client(http);
    if let Some(endpoint) = vars.var("ALILO_SECRETS_ENDPOINT") {
        builder = builder.endpoint_url(endpoint);
    }
    aws_sdk_secretsmanager::Client::from_conf(builder.build())
}

/// A DSN from a secret: the value itself, or built from RDS's JSON form (with
/// `host` replaced by `host_override`, an RDS Proxy's endpoint).
pub fn dsn_from_secret(secret: &str, host_override: Option<&str>) -> Result<String, String> {
    let secret = secret.trim();
    if !secret.starts_with('{') {
        return Ok(secret.to_string());
    }
    let v: serde_json::Value =
        serde_json::from_str(secret).map_err(|e| format!("the JSON secret cannot be read: {e}"))?;
    let text = |key: &str| -> Option<String> {
        match v.get(key)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let need = |key: &str| text(key).filter(|s| !s.is_empty()).ok_or_else(|| format!("the JSON secret has no {key:?}"));
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
    let (user, password) = (need("username")?, need("password")?);
    let host = match host_override.map(str::trim).filter(|h| !h.is_empty()) {
        Some(h) => h.to_string(),
        None => need("host")?,
    };
    let port = text("port").unwrap_or_else(|| "5432".into());
    let dbname = text("dbname").unwrap_or_else(|| "alilo".into());
    Ok(format!("postgres://{}:{}@{host}:{port}/{}", enc(&user), enc(&password), enc(&dbname)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dsn_secret_is_plain_or_rds_json() {
        let table: &[(&str, Result<&str, &str>)] = &[
            ("postgres://u:p@h/db", Ok("postgres://u:p@h/db")),
            (
                r#"{"username":"alilo","password":"p@ss/w:rd","host":"db.x.rds.amazonaws.com","port":5432,"dbname":"alilo","engine":"postgres"}"#,
                Ok("postgres://alilo:p%40ss%2Fw%3Ard@db.x.rds.amazonaws.com:5432/alilo"),
            ),
            (r#"{"username":"u","password":"p","host":"h"}"#, Ok("postgres://u:p@h:5432/alilo")),
            (r#"{"username":"u","host":"h"}"#, Err("no \"password\"")),
            ("{not json", Err("cannot be read")),
        ];
        for (secret, want) in table {
            match (dsn_from_secret(secret, None), want) {
                (Ok(got), Ok(want)) => {
                    assert_eq!(&got, want);
                    crate::config::Dsn::parse(&got).unwrap();
                }
                (Err(e), Err(needle)) => assert!(e.contains(needle), "{secret}: {e}"),
                (got, want) => panic!("{secret}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn an_rds_proxy_endpoint_replaces_the_secrets_host() {
        let secret = r#"{"username":"u","password":"p","host":"db.rds","dbname":"d"}"#;
        assert_eq!(dsn_from_secret(secret, Some("proxy.rds")).unwrap(), "postgres://u:p@proxy.rds:5432/d");
        assert_eq!(dsn_from_secret(secret, Some(" ")).unwrap(), "postgres://u:p@db.rds:5432/d");
        assert_eq!(dsn_from_secret("postgres://a@b/c", Some("proxy")).unwrap(), "postgres://a@b/c", "a DSN is kept");
    }

    #[tokio::test]
    async fn without_secret_arns_nothing_is_asked() {
        let vars = [("PG_DSN", "postgres://a@b/c")];
        let resolved = resolve(&vars).await.unwrap();
        assert_eq!(resolved.var("PG_DSN").as_deref(), Some("postgres://a@b/c"));
    }
}
