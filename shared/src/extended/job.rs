//! The agent job of an extended script, built from the script as stored and
//! the objects beside it in the bucket.
//!
//! The rules:
//! - **Files.** The entry is `script_file`. When it is in our bucket, every
//!   object in its folder goes with it, by its path relative to that folder
//!   (subfolders included; at the bucket's root, only the root's own files),
//!   so `import "./lib/util.js"` and `open("./users.csv")` find them. At most
//!   [`MAX_FILES`]. Objects travel as `s3://<bucket>/<key>` in the stored job
//!   and are presigned at each start ([`presign`]): a URL stored with the run
//!   would expire.
//! - **`__ENV`**, the original platform's contract: `RPS`, `STEPS`,
//!   `DURATION` (the script's load fields as typed), `API_URL` (`base_url`),
//!   `AMMO_URL` (the data file `ammo_id` as a presigned URL; the file is also
//!   among the job's files, so both `open(__ENV.AMMO_URL)`, which the agent
//!   serves from that file, and `http.get(__ENV.AMMO_URL)` read it), and every
//!   `additional_env` entry. These
//!   five win over an `additional_env` entry of the same name: they describe
//!   the load the platform runs.
//! - **Load**: the Alilo profile (rps, steps, duration) as for simple
//!   scripts; max VUs from `additional_env.MAX_VUS` when it is a positive
//!   integer, else the agent's default. A live change of the load changes
//!   the scheduler's rate, not `__ENV.RPS`, which stays the 100 % figure.
//!   A script whose own `options` use a closed-model executor
//!   (`constant-vus`, `ramping-vus`, `per-vu-iterations`,
//!   `shared-iterations`, or `vus`+`duration`, `iterations`, `stages`) runs
//!   those scenarios instead, on the run's clock and within the profile's
//!   duration, with its VU counts (and arrival rates) scaled live by
//!   `live rps / configured rps` × the agent's share
//!   ([`ScriptLoad::Auto`], decided by the agent, which alone runs the
//!   script's init code).

use super::location::{Location, file_name, split_key};
use crate::model::load::LoadDuration;
use crate::wire::scripts::Script;
use alilo_agent_api::script::{ScriptFile, ScriptLoad, ScriptSpec};
use alilo_agent_api::{DEFAULT_MAX_VUS, JobSpec, Profile, RequestTemplate};
use std::collections::BTreeMap;
use std::time::Duration;

/// Most files a job may carry: a script's folder is meant to hold the script
/// and its own modules and data, not a whole bucket.
pub const MAX_FILES: usize = 200;
/// Lease of the job (as simple scripts: see `control`).
const LEASE: &str = "60s";
/// Request timeout of the script's HTTP calls unless it sets its own (k6's
/// default).
const TIMEOUT: &str = "60s";

/// The keys beside a stored script in the bucket (every key under its
/// folder; none when it is outside our bucket), for [`job_spec`]: the one I/O
/// a job needs before `control::jobs::build`. 503 when the bucket does not
/// answer.
pub async fn beside(storage: &crate::storage::Storage, s: &Script) -> crate::http::ApiResult<Vec<String>> {
    match Location::parse(&s.script_file, storage.bucket()) {
        Ok(Some(Location::Bucket { key })) => Ok(storage
            .list_under(split_key(&key).0, usize::try_from(crate::model::page::MAX_UNPAGED_ROWS).unwrap_or(usize::MAX))
            .await
            .map_err(|e| crate::http::ApiError::unavailable("object storage", format!("{e:#}")))?
            .into_iter()
            .map(|o| o.key)
            .collect()),
        _ => Ok(Vec::new()),
    }
}

/// The job of `s` at 100 % of its profile. `beside`: the keys listed under
/// the script's folder (ignored when the script is outside our bucket).
pub fn job_spec(s: &Script, bucket: &str, beside: &[String]) -> Result<JobSpec, String> {
    let s3 = |key: &str| format!("s3://{bucket}/{key}");
    let mut files: Vec<ScriptFile> = Vec::new();
    let entry = match Location::parse(&s.script_file, bucket).map_err(|e| format!("script_file: {e}"))? {
        None => return Err("script_file: is empty".into()),
        Some(Location::External { url }) => {
            let name = file_name(&url).to_string();
            files.push(ScriptFile { path: name.clone(), content: None, url: Some(url) });
            name
        }
        Some(Location::Bucket { key }) => {
            let (folder, name) = split_key(&key);
            let mut keys: Vec<&str> = beside
                .iter()
                .map(String::as_str)
                .filter(|k| k.starts_with(folder) && !k.ends_with('/'))
                .filter(|k| !folder.is_empty() || !k.contains('/'))
                .collect();
            if !keys.contains(&key.as_str()) {
                keys.push(&key);
            }
            keys.sort_unstable();
            keys.dedup();
            if keys.len() > MAX_FILES {
                return Err(format!(
                    "script_file: its folder {folder:?} holds {} files, above the limit of {MAX_FILES}: keep a script \
                     with its own files in a folder of their own",
                    keys.len()
                ));
            }
            for k in keys {
                files.push(ScriptFile { path: k[folder.len()..].to_string(), content: None, url: Some(s3(k)) });
            }
            name.to_string()
        }
    };
    let ammo = match Location::parse(&s.ammo_id, bucket).map_err(|e| format!("ammo_id: {e}"))? {
        None => None,
        Some(location) => {
            let url = match &location {
                Location::Bucket { key } => s3(key),
                Location::External { url } => url.clone(),
            };
            if !files.iter().any(|f| f.url.as_deref() == Some(url.as_str())) {
                let mut path = format!("ammo/{}", file_name(&url));
                while files.iter().any(|f| f.path == path) {
                    path.insert(0, '_');
                }
                files.push(ScriptFile { path, content: None, url: Some(url.clone()) });
            }
            Some(url)
        }
    };

    let options = s.options.clone().unwrap_or_default();
    let rps: f64 = options.rps.trim().parse().map_err(|_| format!("options.rps: {:?} is not a number", options.rps))?;
    let steps: u32 =
        options.steps.trim().parse().map_err(|_| format!("options.steps: {:?} is not a number", options.steps))?;
    let duration = LoadDuration::parse(&options.duration).map_err(|e| format!("options.duration: {e}"))?.secs();

    let mut env = s.additional_env.clone();
    env.insert("RPS".into(), options.rps.trim().to_string());
    env.insert("STEPS".into(), options.steps.trim().to_string());
    env.insert("DURATION".into(), options.duration.trim().to_string());
    env.insert("API_URL".into(), s.base_url.trim().to_string());
    if let Some(url) = ammo {
        env.insert("AMMO_URL".into(), url);
    }
    let max_vus = s
        .additional_env
        .get("MAX_VUS")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_MAX_VUS);

    Ok(JobSpec {
        request: RequestTemplate::default(),
        script: Some(ScriptSpec {
            entry,
            files,
            env,
            iteration_timeout: None,
            // A closed-model script runs its own scenarios, its VUs scaled by
            // the live rps against this 100 % figure.
            load: ScriptLoad::Auto { reference_rps: rps },
        }),
        data: None,
        checks: Default::default(),
        profile: Profile { rps, steps, duration: format!("{duration}s"), ramp: Default::default() },
        scale: 1.0,
        max_vus,
        start_at_ms: None,
        timeout: TIMEOUT.into(),
        tls_verify: true,
        http: Default::default(),
        lease: LEASE.into(),
        closed_loop_connections: None,
        log_key: None,
        allowed_targets: Vec::new(),
    })
}

/// VUs a smoke test of an extended script runs at most: k6's guide puts a
/// smoke test at 1 to 5 VUs, enough to see a flow work (and a 2 rps profile
/// with a one-second think time keep its VUs busy) without the load a
/// closed-model script's own `vus` would put on the target.
pub const SMOKE_MAX_VUS: u64 = 5;

/// Makes `spec` a smoke test's job: its VUs, of every scenario together
/// (the job's `max_vus` caps them), at most [`SMOKE_MAX_VUS`].
pub fn smoke(spec: &mut JobSpec) {
    spec.max_vus = spec.max_vus.min(SMOKE_MAX_VUS);
}

/// The keys of our bucket a stored job still names as `s3://` URLs.
pub fn unsigned_keys(spec: &JobSpec, bucket: &str) -> Vec<String> {
    let prefix = format!("s3://{bucket}/");
    spec.script
        .iter()
        .flat_map(|s| &s.files)
        .filter_map(|f| f.url.as_deref()?.strip_prefix(&prefix).map(str::to_string))
        .collect()
}

/// Replaces each `s3://` URL of the job (its files' and `__ENV`'s, e.g.
/// `AMMO_URL`) by its presigned URL (`urls`: key → URL).
pub fn with_urls(spec: &mut JobSpec, bucket: &str, urls: &BTreeMap<String, String>) {
    let prefix = format!("s3://{bucket}/");
    let signed = |value: &str| value.strip_prefix(&prefix).and_then(|k| urls.get(k)).cloned();
    let Some(script) = spec.script.as_mut() else { return };
    for f in &mut script.files {
        if let Some(url) = f.url.as_deref().and_then(signed) {
            f.url = Some(url);
        }
    }
    for value in script.env.values_mut() {
        if let Some(url) = signed(value) {
            *value = url;
        }
    }
}

/// Presigns the job's objects for an agent about to start it.
pub async fn presign(storage: &crate::storage::Storage, spec: &mut JobSpec, ttl: Duration) -> anyhow::Result<()> {
    let mut urls = BTreeMap::new();
    for key in unsigned_keys(spec, storage.bucket()) {
        let url = storage.presign_get(&key, ttl).await?;
        urls.insert(key, url);
    }
    with_urls(spec, storage.bucket(), &urls);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::scripts::Options;

    fn script(file: &str, ammo: &str) -> Script {
        Script {
            name: "checkout".into(),
            script_file: file.into(),
            ammo_id: ammo.into(),
            base_url: "https://api.example.com".into(),
            options: Some(Options { rps: "120".into(), steps: "4".into(), duration: "5m".into() }),
            additional_env: BTreeMap::from([("TOKEN".into(), "t".into()), ("RPS".into(), "1".into())]),
            ..Default::default()
        }
    }

    fn keys(list: &[&str]) -> Vec<String> {
        list.iter().map(|k| (*k).to_string()).collect()
    }

    fn paths(spec: &JobSpec) -> Vec<(String, String)> {
        spec.script.as_ref().unwrap().files.iter().map(|f| (f.path.clone(), f.url.clone().unwrap())).collect()
    }

    #[test]
    fn the_entry_and_every_file_beside_it_travel_by_relative_path() {
        let beside = keys(&["flows/main.js", "flows/lib/util.js", "flows/users.csv", "flows/sub/", "other/x.js"]);
        let spec = job_spec(&script("s3://alilo/flows/main.js", ""), "alilo", &beside).unwrap();
        let s = spec.script.as_ref().unwrap();
        assert_eq!(s.entry, "main.js");
        assert_eq!(
            paths(&spec),
            vec![
                ("lib/util.js".into(), "s3://alilo/flows/lib/util.js".into()),
                ("main.js".into(), "s3://alilo/flows/main.js".into()),
                ("users.csv".into(), "s3://alilo/flows/users.csv".into()),
            ]
        );
    }

    #[test]
    fn env_follows_the_original_contract_and_its_five_names_win() {
        let spec = job_spec(&script("flows/main.js", "s3://alilo/data/ammo.json"), "alilo", &[]).unwrap();
        let env = &spec.script.as_ref().unwrap().env;
        let want: BTreeMap<String, String> = [
            ("RPS", "120"),
            ("STEPS", "4"),
            ("DURATION", "5m"),
            ("API_URL", "https://api.example.com"),
            ("AMMO_URL", "s3://alilo/data/ammo.json"),
            ("TOKEN", "t"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(env, &want);
        assert!(paths(&spec).contains(&("ammo/ammo.json".into(), "s3://alilo/data/ammo.json".into())));
    }

    #[test]
    fn a_data_file_beside_the_script_travels_once() {
        let beside = keys(&["flows/main.js", "flows/ammo.json"]);
        let spec =
            job_spec(&script("flows/main.js", "http://minio:9000/alilo/flows/ammo.json"), "alilo", &beside).unwrap();
        assert_eq!(spec.script.as_ref().unwrap().env["AMMO_URL"], "s3://alilo/flows/ammo.json");
        assert_eq!(paths(&spec).len(), 2);
    }

    #[test]
    fn the_load_is_the_alilo_profile() {
        let mut s = script("main.js", "");
        s.additional_env.insert("MAX_VUS".into(), "250".into());
        let spec = job_spec(&s, "alilo", &keys(&["main.js", "lib/a.js"])).unwrap();
        assert_eq!((spec.profile.rps, spec.profile.steps, spec.profile.duration.as_str()), (120.0, 4, "300s"));
        assert_eq!((spec.max_vus, spec.scale), (250, 1.0));
        assert_eq!(spec.script.as_ref().unwrap().load, ScriptLoad::Auto { reference_rps: 120.0 });
        // At the bucket's root only the root's own files go along.
        assert_eq!(paths(&spec), vec![("main.js".into(), "s3://alilo/main.js".into())]);
        assert_eq!(job_spec(&script("main.js", ""), "alilo", &[]).unwrap().max_vus, DEFAULT_MAX_VUS);
        let mut smoked = job_spec(&script("main.js", ""), "alilo", &[]).unwrap();
        smoke(&mut smoked);
        assert_eq!(smoked.max_vus, SMOKE_MAX_VUS, "a smoke test caps the VUs");
        smoked.max_vus = 2;
        smoke(&mut smoked);
        assert_eq!(smoked.max_vus, 2, "a smaller MAX_VUS stays");
    }

    #[test]
    fn a_script_outside_our_bucket_is_fetched_by_the_agent_as_is() {
        let spec =
            job_spec(&script("https://files.example.com/k6/flow.js", "https://files/ammo.json"), "alilo", &[]).unwrap();
        assert_eq!(spec.script.as_ref().unwrap().entry, "flow.js");
        assert_eq!(
            paths(&spec),
            vec![
                ("flow.js".into(), "https://files.example.com/k6/flow.js".into()),
                ("ammo/ammo.json".into(), "https://files/ammo.json".into()),
            ]
        );
        assert!(unsigned_keys(&spec, "alilo").is_empty());
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            (script("", ""), "script_file"),
            (script("s3://other/main.js", ""), "script_file"),
            (script("main.js", "s3://other/a.json"), "ammo_id"),
        ];
        for (s, field) in cases {
            let e = job_spec(&s, "alilo", &[]).unwrap_err();
            assert!(e.starts_with(field), "{e}");
        }
        let crowded: Vec<String> = (0..=MAX_FILES).map(|i| format!("f/{i}.js")).collect();
        assert!(job_spec(&script("f/0.js", ""), "alilo", &crowded).unwrap_err().contains("limit"));
    }

    #[test]
    fn presigned_urls_replace_only_our_objects() {
        let mut spec =
            job_spec(&script("f/main.js", "https://files/ammo.json"), "alilo", &keys(&["f/main.js", "f/a.js"]))
                .unwrap();
        assert_eq!(unsigned_keys(&spec, "alilo"), keys(&["f/a.js", "f/main.js"]));
        let urls = BTreeMap::from([
            ("f/a.js".to_string(), "http://s3/a?sig".to_string()),
            ("f/main.js".to_string(), "http://s3/main?sig".to_string()),
        ]);
        with_urls(&mut spec, "alilo", &urls);
        let got: Vec<String> = paths(&spec).into_iter().map(|(_, u)| u).collect();
        assert_eq!(got, keys(&["http://s3/a?sig", "http://s3/main?sig", "https://files/ammo.json"]));

        // AMMO_URL in our bucket is presigned with its file, to the same URL.
        let mut spec = job_spec(&script("f/main.js", "f/ammo.json"), "alilo", &keys(&["f/main.js"])).unwrap();
        let urls = BTreeMap::from([
            ("f/main.js".to_string(), "http://s3/main?sig".to_string()),
            ("f/ammo.json".to_string(), "http://s3/ammo?sig".to_string()),
        ]);
        with_urls(&mut spec, "alilo", &urls);
        let s = spec.script.as_ref().unwrap();
        assert_eq!(s.env["AMMO_URL"], "http://s3/ammo?sig");
        assert!(s.files.iter().any(|f| f.url.as_deref() == Some("http://s3/ammo?sig")));
    }
}
