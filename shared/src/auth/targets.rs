//! The target allow-lists: which hosts the agents may be pointed at, and where a
//! script's data file may come from. Pure: host names and URLs in, a verdict out.
//! Matching lives in `alilo_agent_api::targets` (the agents enforce the same
//! lists at run time); this module says which lists apply and how they combine.
//!
//! Two lists, each of host names, `*.suffix`, IP addresses or CIDR blocks, or `*`:
//! - the **global** list, `ALILO_ALLOWED_TARGETS` (set by whoever deploys);
//! - a **project's** list, `allowed_targets` (set by a tester or admin with
//!   `/v1/project/targets/set`).
//!
//! **They combine with AND** ([`Effective`]): a host must pass the global list
//! when it is set *and* the project's list when that is set. A project's list can
//! only narrow what the deployment allows, never widen it, so a tester cannot
//! undo the admin's list. An unset list lets every host through; both unset, any
//! target is allowed (the local, loopback development default; startup warns
//! when the API is exposed). A refusal names the host and the list that refused it.
//!
//! **Data files.** A data file comes from our bucket (`s3://<bucket>/…`, presigned
//! by the backend). Any other `http(s)` URL is refused unless its host is on the
//! global list: with the global list unset, never (a project's list cannot turn
//! outside data files on). Loopback, private, link-local and unspecified
//! addresses (and `localhost`) are refused even then, unless an IP/CIDR entry
//! (not a name, not `*`) of each set list covers them: the agents must not become
//! a proxy into the internal network. What this cannot stop: a listed *name*
//! whose DNS answer is internal (see docs/security.md).

use std::net::IpAddr;

pub use alilo_agent_api::targets::{AllowList, TargetList, host_of, internal_address};

/// The variable that configures the global list.
pub const VAR: &str = "ALILO_ALLOWED_TARGETS";

/// `ALILO_ALLOWED_TARGETS` parsed; `None` or blank means unset.
pub fn parse_global(raw: Option<&str>) -> Result<TargetList, String> {
    TargetList::parse(raw).map_err(|e| format!("{VAR} {e}"))
}

/// The name a project's list goes by in refusals: `of project 7`.
pub fn project_list_name(project_id: i64) -> String {
    format!("of project {project_id}")
}

fn refusal(host: &str, list: &str) -> String {
    alilo_agent_api::targets::refusal(host, list)
}

/// The lists a project's scripts must pass: the global one AND the project's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effective {
    global: TargetList,
    project: Option<(i64, TargetList)>,
}

impl Effective {
    /// The global list alone (no project, or one without a list).
    pub fn global(global: &TargetList) -> Self {
        Self { global: global.clone(), project: None }
    }

    /// The global list and project `project_id`'s (unset when `None` or empty).
    pub fn of_project(global: &TargetList, project_id: i64, project: Option<TargetList>) -> Self {
        Self { global: global.clone(), project: project.filter(TargetList::is_set).map(|l| (project_id, l)) }
    }

    /// The set lists, each with its name.
    fn lists(&self) -> impl Iterator<Item = (String, &TargetList)> {
        let global = self.global.is_set().then(|| (VAR.to_string(), &self.global));
        let project = self.project.as_ref().map(|(id, l)| (project_list_name(*id), l));
        global.into_iter().chain(project)
    }

    /// May a script send its requests to `host`? The error names the host and
    /// the first list that refuses it.
    pub fn check_target(&self, host: &str) -> Result<(), String> {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        match self.lists().find(|(_, l)| !l.matches(&host, false)) {
            Some((name, _)) => Err(refusal(&host, &name)),
            None => Ok(()),
        }
    }

    /// May a script's data file come from `url`? See the module doc.
    pub fn check_data_url(&self, url: &str, bucket: &str) -> Result<(), String> {
        let url = url.trim();
        if url.is_empty() {
            return Ok(());
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            return match rest.split_once('/') {
                Some((b, key)) if b == bucket && !key.is_empty() => Ok(()),
                _ => Err(format!("{url:?} is not an object of our bucket (s3://{bucket}/…)")),
            };
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("{url:?} must be s3://{bucket}/… or an allowed http(s) URL"));
        }
        let host = host_of(url).ok_or_else(|| format!("{url:?} names no host"))?;
        if !self.global.is_set() {
            return Err(format!(
                "data files from other hosts than our bucket are off: host {host:?} is not in {VAR} (unset)"
            ));
        }
        let internal =
            host == "localhost" || host.ends_with(".localhost") || host.parse::<IpAddr>().is_ok_and(internal_address);
        for (name, list) in self.lists() {
            if internal && !list.matches(&host, true) {
                return Err(format!(
                    "host {host:?} is an internal address; only an IP/CIDR entry of the target allow-list {name} \
                     can allow a data file from it"
                ));
            }
            if !list.matches(&host, false) {
                return Err(refusal(&host, &name));
            }
        }
        Ok(())
    }

    /// The lists as a job spec carries them to the agents, which refuse every
    /// request (an extended script's, a redirect) to a host they do not allow.
    pub fn for_agent(&self) -> Vec<AllowList> {
        self.lists().map(|(name, l)| AllowList { name, entries: l.entries().to_vec() }).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(raw: &str) -> TargetList {
        parse_global(Some(raw)).unwrap()
    }

    fn effective(global: &str, project: &str) -> Effective {
        Effective::of_project(&list(global), 7, Some(list(project)))
    }

    #[test]
    fn an_unset_list_allows_every_target_but_no_foreign_data_file() {
        let open = Effective::default();
        assert!(open.check_target("127.0.0.1").is_ok());
        assert!(open.check_target("anything.example").is_ok());
        assert!(open.check_data_url("s3://alilo/data/a.json", "alilo").is_ok());
        let err = open.check_data_url("http://127.0.0.1:9/secret.json", "alilo").unwrap_err();
        assert!(err.contains("127.0.0.1") && err.contains(VAR), "{err}");
        assert!(open.check_data_url("https://cdn.example/a.json", "alilo").is_err());
        assert!(open.for_agent().is_empty(), "no list: the job spec carries none");
    }

    /// (global, project, host, `None` = allowed or the list named in the refusal)
    #[test]
    fn a_host_must_pass_the_global_list_and_the_projects() {
        let cases: &[(&str, &str, &str, Option<&str>)] = &[
            ("", "", "anything.example", None),
            ("*.example.com", "", "shop.example.com", None),
            ("*.example.com", "", "evil.test", Some(VAR)),
            ("", "shop.example.com", "shop.example.com", None),
            ("", "shop.example.com", "api.example.com", Some("of project 7")),
            ("*.example.com", "shop.example.com", "shop.example.com", None),
            ("*.example.com", "shop.example.com", "api.example.com", Some("of project 7")),
            ("*.example.com", "evil.test", "evil.test", Some(VAR)),
            ("*.example.com", "*", "evil.test", Some(VAR)),
            ("127.0.0.0/8", "127.0.0.1", "127.0.0.1", None),
            ("127.0.0.0/8", "127.0.0.1", "127.0.0.2", Some("of project 7")),
            ("shop.example.com, *.staging.example, 10.1.0.0/16, ::1", "", "[::1]", None),
            ("shop.example.com, *.staging.example, 10.1.0.0/16, ::1", "", "staging.example", Some(VAR)),
        ];
        for (global, project, host, refused_by) in cases {
            let got = effective(global, project).check_target(host);
            match refused_by {
                None => assert_eq!(got, Ok(()), "{host} under {global:?} and {project:?}"),
                Some(name) => {
                    let err = got.unwrap_err();
                    assert!(
                        err.contains(&format!("{:?}", host.trim_matches(['[', ']']))) && err.ends_with(name),
                        "{host} under {global:?} and {project:?}: {err}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_agents_get_every_set_list_by_name() {
        let both = effective("*.example.com", "shop.example.com, 10.0.0.0/8");
        let names: Vec<_> = both.for_agent().into_iter().map(|l| (l.name, l.entries)).collect();
        assert_eq!(
            names,
            [
                (VAR.to_string(), vec!["*.example.com".to_string()]),
                ("of project 7".to_string(), vec!["shop.example.com".to_string(), "10.0.0.0/8".to_string()]),
            ]
        );
        let empty_project = Effective::of_project(&TargetList::default(), 7, Some(TargetList::default()));
        assert!(empty_project.for_agent().is_empty(), "an empty project list is no list");
    }

    #[test]
    fn internal_data_hosts_need_an_address_entry() {
        let by_name = Effective::global(&list("*, localhost"));
        for url in [
            "http://127.0.0.1:9/s.json",
            "http://localhost/s",
            "http://169.254.169.254/latest",
            "http://[::ffff:10.0.0.1]/x",
            "http://192.168.1.1/x",
        ] {
            assert!(by_name.check_data_url(url, "b").is_err(), "{url}");
        }
        assert!(by_name.check_data_url("https://cdn.example/a.json", "b").is_ok());
        let by_net = Effective::global(&list("127.0.0.0/8"));
        assert!(by_net.check_data_url("http://127.0.0.1:9/s.json", "b").is_ok());
    }

    #[test]
    fn a_projects_list_narrows_data_files_and_cannot_turn_them_on() {
        let narrowed = effective("*", "cdn.example");
        assert!(narrowed.check_data_url("https://cdn.example/a.json", "b").is_ok());
        let err = narrowed.check_data_url("https://other.example/a.json", "b").unwrap_err();
        assert!(err.ends_with("of project 7"), "{err}");
        let internal = effective("127.0.0.0/8", "*").check_data_url("http://127.0.0.1/a", "b").unwrap_err();
        assert!(internal.contains("of project 7"), "the project's list needs its own address entry: {internal}");
        let off = Effective::of_project(&TargetList::default(), 7, Some(list("cdn.example")));
        assert!(off.check_data_url("https://cdn.example/a.json", "b").unwrap_err().contains("(unset)"));
    }

    #[test]
    fn only_our_bucket_is_a_data_source() {
        let l = Effective::default();
        assert!(l.check_data_url("s3://other/a.json", "alilo").is_err());
        assert!(l.check_data_url("s3://alilo/", "alilo").is_err());
        assert!(l.check_data_url("file:///etc/passwd", "alilo").is_err());
    }

    #[test]
    fn bad_entries_name_the_variable() {
        let err = parse_global(Some("ok.example, bad host")).unwrap_err();
        assert!(err.starts_with(VAR) && err.contains("bad host"), "{err}");
        assert!(parse_global(Some("10.0.0.0/33")).is_err());
        assert!(parse_global(Some("  ")).unwrap() == TargetList::default());
    }
}
