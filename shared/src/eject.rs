//! A simple script written out as the equivalent extended (k6-style) script, so a
//! user can "eject" it into JavaScript and grow it. Served at the simple script's
//! `script_file_url` (`GET /v1/simple-script?simple_script_id=N`), as the original
//! linked its generated k6 script.
//!
//! The request follows [`crate::simple_semantics`] (empty scheme = https, a POST
//! with a data file and no body sends a random row). The load profile is the
//! original's: `ramping-arrival-rate` climbing to `rps` in `steps` equal steps over
//! `duration`. A data file is read from `__ENV.AMMO_URL` (a JSON array), as the
//! original's template did.

use crate::simple_semantics;
use crate::wire::scripts::SimpleScript;

/// The script's JavaScript text.
pub fn k6_script(s: &SimpleScript, duration_secs: u64) -> String {
    let js = |v: &str| serde_json::to_string(v).unwrap_or_else(|_| "\"\"".into());
    let has_data = !s.ammo_url.trim().is_empty();
    let mut url = simple_semantics::target_url(&s.scheme, &s.path);
    // Placeholders stay readable (and fillable) in the query; the rest is encoded.
    let query: Vec<String> = s
        .query_params
        .iter()
        .map(|q| {
            if q.key.contains("{{") || q.value.contains("{{") {
                format!("{}={}", q.key, q.value)
            } else {
                crate::import::encode_query(&[crate::import::QueryParam { key: q.key.clone(), value: q.value.clone() }])
            }
        })
        .collect();
    if !query.is_empty() {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&query.join("&"));
    }
    let method = s.http_method.trim().to_ascii_lowercase();
    let method = if method.is_empty() { "get".to_string() } else { method };
    let body = simple_semantics::body(&method, &s.static_ammo, has_data);
    let rps: f64 = s.rps.trim().parse().unwrap_or(1.0);
    let steps: u64 = s.steps.trim().parse().unwrap_or(1).max(1);
    let max_vus: u64 = s.max_v_us.trim().parse().unwrap_or(100).max(1);
    let step_secs = (duration_secs / steps).max(1);
    let stages: Vec<String> = (1..=steps)
        .map(|k| {
            #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let target = ((rps * k as f64 / steps as f64).round() as u64).max(1);
            format!("{{ target: {target}, duration: '{step_secs}s' }}")
        })
        .collect();
    let headers: Vec<String> = s.headers.iter().map(|(k, v)| format!("    {}: {},", js(k), js(v))).collect();

    let mut out = String::new();
    out.push_str(&format!(
        "// Simple script {} ({}), ejected into an extended script.\n// Edit freely: this is plain k6-style JavaScript.\n",
        s.script_id,
        js(&s.name)
    ));
    out.push_str("import http from 'k6/http';\nimport { check } from 'k6';\n");
    if has_data {
        out.push_str("import { SharedArray } from 'k6/data';\n");
    }
    out.push_str(&format!(
        "\nexport const options = {{\n  scenarios: {{\n    main: {{\n      executor: 'ramping-arrival-rate',\n      startRate: 1,\n      timeUnit: '1s',\n      preAllocatedVUs: 1,\n      maxVUs: {max_vus},\n      stages: [{}],\n    }},\n  }},\n}};\n\n",
        stages.join(", ")
    ));
    if has_data {
        out.push_str("// The data file: a JSON array of objects (its URL in AMMO_URL).\nconst rows = new SharedArray('rows', () => JSON.parse(open(__ENV.AMMO_URL)));\n\n");
        out.push_str(
            "// {{name}} placeholders take the row's field `name`.\nfunction fill(text, row) {\n  return text.replace(/\\{\\{\\s*([^}]+?)\\s*\\}\\}/g, (_, k) => (k in row ? String(row[k]) : ''));\n}\n\n",
        );
    }
    out.push_str(&format!("const url = {};\nconst headers = {{\n{}\n}};\n", js(&url), headers.join("\n")));
    if let Some(b) = body.as_deref().filter(|b| *b != alilo_agent_api::ROW_PLACEHOLDER) {
        out.push_str(&format!("const body = {};\n", js(b)));
    }
    out.push_str("\nexport default function () {\n");
    let (u, h) = if has_data {
        out.push_str("  const row = rows[Math.floor(Math.random() * rows.length)];\n");
        ("fill(url, row)", "Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, fill(v, row)]))")
    } else {
        ("url", "headers")
    };
    let b = match &body {
        None => "null".to_string(),
        Some(b) if b == alilo_agent_api::ROW_PLACEHOLDER => "JSON.stringify(row)".to_string(),
        Some(_) if has_data => "fill(body, row)".to_string(),
        Some(_) => "body".to_string(),
    };
    out.push_str(&format!(
        "  const res = http.request({}, {u}, {b}, {{ headers: {h} }});\n  check(res, {{ 'status is 2xx': (r) => r.status >= 200 && r.status < 300 }});\n}}\n",
        js(&method.to_ascii_uppercase())
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::scripts::QueryParams;

    fn simple() -> SimpleScript {
        SimpleScript {
            script_id: 4,
            name: "get_items".into(),
            path: "shop.example.com/items/{{id}}".into(),
            http_method: "get".into(),
            rps: "20".into(),
            steps: "2".into(),
            max_v_us: "50".into(),
            query_params: vec![QueryParams { key: "q".into(), value: "a b".into() }],
            ..Default::default()
        }
    }

    #[test]
    fn the_profile_climbs_to_rps_in_steps_over_the_duration() {
        let js = k6_script(&simple(), 600);
        assert!(js.contains("stages: [{ target: 10, duration: '300s' }, { target: 20, duration: '300s' }]"), "{js}");
        assert!(js.contains("maxVUs: 50"), "{js}");
    }

    #[test]
    fn an_empty_scheme_is_https_and_the_query_is_encoded() {
        let js = k6_script(&simple(), 60);
        assert!(js.contains(r#"const url = "https://shop.example.com/items/{{id}}?q=a%20b";"#), "{js}");
        assert!(js.contains(r#"http.request("GET", url, null, { headers: headers })"#), "{js}");
    }

    #[test]
    fn a_post_with_a_data_file_and_no_body_sends_a_random_row() {
        let mut s = simple();
        s.http_method = "post".into();
        s.ammo_url = "s3://alilo/p/s/rows.json".into();
        let js = k6_script(&s, 60);
        assert!(js.contains("JSON.parse(open(__ENV.AMMO_URL))"), "{js}");
        assert!(js.contains("rows[Math.floor(Math.random() * rows.length)]"), "{js}");
        assert!(js.contains(r#"http.request("POST", fill(url, row), JSON.stringify(row)"#), "{js}");
    }

    #[test]
    fn a_static_body_and_headers_are_quoted_as_javascript_strings() {
        let mut s = simple();
        s.http_method = "put".into();
        s.static_ammo = "{\"a\":\"it's\"}".into();
        s.headers.insert("content-type".into(), "application/json".into());
        let js = k6_script(&s, 60);
        assert!(js.contains(r#"const body = "{\"a\":\"it's\"}";"#), "{js}");
        assert!(js.contains(r#""content-type": "application/json","#), "{js}");
    }
}
