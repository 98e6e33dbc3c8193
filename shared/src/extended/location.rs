//! Where a script's file lives, from what its owner typed in `script_file` or
//! `ammo_id`.
//!
//! The original platform stored the URL its file upload answered
//! (`http://<minio>/<bucket>/<key>`); Alilo's upload answers `s3://<bucket>/<key>`
//! and the file browser shows bare keys. All three name an object in our
//! bucket. Any other `http(s)` URL is outside: the agent fetches it as is.

/// A file of an extended script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An object in our bucket, by key.
    Bucket { key: String },
    /// An `http(s)` URL outside our bucket.
    External { url: String },
}

impl Location {
    /// Reads `raw` (trimmed); an empty value is `None`.
    pub fn parse(raw: &str, bucket: &str) -> Result<Option<Self>, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        if let Some(rest) = raw.strip_prefix("s3://") {
            let (b, key) = rest.split_once('/').ok_or_else(|| format!("{raw:?} names no object"))?;
            if b != bucket {
                return Err(format!("{raw:?} is not in our bucket {bucket:?}"));
            }
            return Self::key(key).map(Some);
        }
        if let Some(after_scheme) = raw.strip_prefix("http://").or_else(|| raw.strip_prefix("https://")) {
            let path = after_scheme.split_once('/').map_or("", |(_, p)| p);
            let path = path.split(['?', '#']).next().unwrap_or_default();
            if let Some(key) = path.strip_prefix(bucket).and_then(|p| p.strip_prefix('/'))
                && !key.is_empty()
            {
                let decoded = percent_encoding::percent_decode_str(key).decode_utf8_lossy().into_owned();
                return Self::key(&decoded).map(Some);
            }
            return Ok(Some(Self::External { url: raw.to_string() }));
        }
        if raw.contains("://") {
            return Err(format!("{raw:?} is neither an http(s) URL nor s3://{bucket}/<key> nor a key in our bucket"));
        }
        Self::key(raw).map(Some)
    }

    fn key(key: &str) -> Result<Self, String> {
        if key.is_empty() || key.starts_with('/') || key.ends_with('/') {
            return Err(format!("{key:?} is not an object key"));
        }
        if key.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
            return Err(format!("{key:?} has an empty, \".\" or \"..\" segment"));
        }
        Ok(Self::Bucket { key: key.to_string() })
    }
}

/// The folder of a key (`""` at the root, else ending in `/`) and its name.
pub fn split_key(key: &str) -> (&str, &str) {
    match key.rfind('/') {
        Some(i) => (&key[..=i], &key[i + 1..]),
        None => ("", key),
    }
}

/// The last segment of a key or URL path, without query.
pub fn file_name(path_or_url: &str) -> &str {
    let path = path_or_url.split(['?', '#']).next().unwrap_or_default();
    path.rsplit('/').find(|s| !s.is_empty()).unwrap_or("file")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(key: &str) -> Option<Location> {
        Some(Location::Bucket { key: key.into() })
    }

    #[test]
    fn every_way_of_naming_our_objects_is_understood() {
        let cases = [
            ("s3://alilo/flows/main.js", bucket("flows/main.js")),
            ("http://minio:9000/alilo/flows/main.js", bucket("flows/main.js")),
            (
                "https://s3.example.com/alilo/12/Checkout/2024_01_01_00_00_00_main.js",
                bucket("12/Checkout/2024_01_01_00_00_00_main.js"),
            ),
            ("http://minio/alilo/my%20flows/main.js?X-Amz-Signature=1", bucket("my flows/main.js")),
            (" flows/main.js ", bucket("flows/main.js")),
            ("main.js", bucket("main.js")),
            ("https://files/x.js", Some(Location::External { url: "https://files/x.js".into() })),
            ("", None),
        ];
        for (raw, want) in cases {
            assert_eq!(Location::parse(raw, "alilo").unwrap(), want, "{raw}");
        }
    }

    #[test]
    fn another_bucket_or_a_climbing_key_is_refused() {
        for raw in ["s3://other/x.js", "s3://alilo", "ftp://x/y.js", "a/../b.js", "/abs.js", "dir/"] {
            assert!(Location::parse(raw, "alilo").is_err(), "{raw}");
        }
    }

    #[test]
    fn keys_split_into_folder_and_name() {
        assert_eq!(split_key("a/b/main.js"), ("a/b/", "main.js"));
        assert_eq!(split_key("main.js"), ("", "main.js"));
        assert_eq!(file_name("https://x/y/ammo.json?sig=1"), "ammo.json");
    }
}
