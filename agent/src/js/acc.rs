//! What a script adds to one second of one worker, merged by the collector
//! into a [`ScriptBucket`]: iterations (done, dropped, failed, their
//! duration), checks by name, requests by `name` tag, custom metrics and
//! exceptions by message.

use std::collections::BTreeMap;
use std::sync::Arc;

use alilo_agent_api::hist;
use alilo_agent_api::script::{
    CustomMetric, ExceptionSample, GroupBucket, NamedRequests, PassFail, ScriptBucket, TaggedCheck, TaggedMetric,
    TaggedRequests,
};
use hdrhistogram::Histogram;

use super::vu::{Events, MetricKind};

/// Exceptions kept by distinct message per second (others are counted
/// under one line).
const MAX_EXCEPTION_KINDS: usize = 50;
/// Distinct group paths kept per second (more go to `(other groups)`).
const MAX_GROUPS: usize = 100;
/// Distinct request names kept per second (more go to `(other names)`:
/// name requests with a `name` tag or `http.url` when URLs carry ids).
const MAX_NAMES: usize = 200;

/// One custom metric's second.
pub enum MetricAcc {
    /// Sum.
    Counter(f64),
    /// Last value.
    Gauge(f64),
    /// Non-zero, all.
    Rate(u64, u64),
    /// Values × 1000.
    Trend(Box<Histogram<u64>>),
}

/// Tagged (check or metric name, tag set) pairs kept per second, each
/// (more are counted under their name only).
const MAX_TAGGED: usize = 200;
/// Distinct tag sets kept per request name and second (requests with more
/// are counted under their name only).
const MAX_TAG_SETS: usize = 20;

/// The requests of one name (or one name and tag set) in one second.
pub struct NamedAcc {
    sent: u64,
    failed: u64,
    latency: Histogram<u64>,
    /// By tag set, when they carry tags: (key, requests).
    tagged: Vec<(Arc<str>, NamedAcc)>,
}

impl NamedAcc {
    fn new() -> NamedAcc {
        NamedAcc { sent: 0, failed: 0, latency: hist::new(), tagged: Vec::new() }
    }

    fn add(&mut self, ok: bool, us: u64) {
        self.sent += 1;
        if !ok {
            self.failed += 1;
        }
        hist::record(&mut self.latency, us);
    }

    /// The requests of tag set `tags` (`None` past [`MAX_TAG_SETS`]).
    fn tagged(&mut self, tags: &Arc<str>) -> Option<&mut NamedAcc> {
        // Most requests of a name share one set: compare pointers first.
        let i = match self.tagged.iter().position(|(k, _)| Arc::ptr_eq(k, tags) || k == tags) {
            Some(i) => i,
            None if self.tagged.len() < MAX_TAG_SETS => {
                self.tagged.push((tags.clone(), NamedAcc::new()));
                self.tagged.len() - 1
            }
            None => return None,
        };
        Some(&mut self.tagged[i].1)
    }

    fn merge(&mut self, o: &NamedAcc) {
        self.sent += o.sent;
        self.failed += o.failed;
        let _ = self.latency.add(&o.latency);
        for (k, t) in &o.tagged {
            if let Some(mine) = self.tagged(k) {
                mine.merge(t);
            }
        }
    }

    fn wire(&self) -> NamedRequests {
        NamedRequests {
            sent: self.sent,
            failed: self.failed,
            latency: hist::encode(&self.latency),
            tagged: self
                .tagged
                .iter()
                .map(|(k, t)| TaggedRequests {
                    tags: super::tags::parse_key(k),
                    sent: t.sent,
                    failed: t.failed,
                    latency: hist::encode(&t.latency),
                })
                .collect(),
        }
    }
}

/// One group's second.
#[derive(Default)]
pub struct GroupAcc {
    runs: u64,
    duration: Option<Histogram<u64>>,
    requests: u64,
    failed: u64,
    checks: BTreeMap<String, PassFail>,
}

impl GroupAcc {
    fn merge(&mut self, o: &GroupAcc) {
        self.runs += o.runs;
        if let Some(d) = &o.duration {
            let _ = self.duration.get_or_insert_with(hist::new).add(d);
        }
        self.requests += o.requests;
        self.failed += o.failed;
        for (k, v) in &o.checks {
            let c = self.checks.entry(k.clone()).or_default();
            c.passes += v.passes;
            c.fails += v.fails;
        }
    }
}

/// A script's share of one second.
#[derive(Default)]
pub struct ScriptAcc {
    iterations: u64,
    dropped: u64,
    failed: u64,
    duration: Option<Histogram<u64>>,
    checks: BTreeMap<String, PassFail>,
    requests: BTreeMap<String, NamedAcc>,
    metrics: BTreeMap<String, MetricAcc>,
    exceptions: BTreeMap<String, u64>,
    samples: Vec<ExceptionSample>,
    groups: BTreeMap<String, GroupAcc>,
    /// Checks with tags by (name, tags' key).
    tagged_checks: BTreeMap<(String, Arc<str>), PassFail>,
    /// Custom metrics with tags by (name, tags' key).
    tagged_metrics: BTreeMap<(String, Arc<str>), MetricAcc>,
}

impl ScriptAcc {
    /// The accumulator of group `path` (capped per second).
    fn group(&mut self, path: &str) -> &mut GroupAcc {
        if !self.groups.contains_key(path) {
            let key = if self.groups.len() >= MAX_GROUPS { "(other groups)" } else { path };
            self.groups.entry(key.to_string()).or_default();
        }
        let key = if self.groups.contains_key(path) { path } else { "(other groups)" };
        self.groups.get_mut(key).expect("inserted")
    }

    /// An iteration could not start: no free VU.
    pub fn dropped(&mut self) {
        self.dropped += 1;
    }

    /// A request named `name` with tags `tags` (their key, empty for none),
    /// sent in group `group` (empty: none), ended after `us` microseconds.
    pub fn request(&mut self, name: &str, group: &str, tags: &Arc<str>, ok: bool, us: u64) {
        if !group.is_empty() {
            let g = self.group(group);
            g.requests += 1;
            if !ok {
                g.failed += 1;
            }
        }
        if !self.requests.contains_key(name) {
            let name = if self.requests.len() >= MAX_NAMES { "(other names)" } else { name };
            self.requests.entry(name.to_string()).or_insert_with(NamedAcc::new);
        }
        let key = if self.requests.contains_key(name) { name } else { "(other names)" };
        let r = self.requests.get_mut(key).expect("inserted");
        r.add(ok, us);
        if !tags.is_empty()
            && let Some(t) = r.tagged(tags)
        {
            t.add(ok, us);
        }
    }

    /// An iteration ended after `us` microseconds, with its events and
    /// exception (and the exception with its stack, for the first few of a
    /// job).
    pub fn iteration(&mut self, us: u64, events: Events, error: Option<&str>, sample: Option<ExceptionSample>) {
        self.samples.extend(sample);
        self.iterations += 1;
        hist::record(self.duration.get_or_insert_with(hist::new), us);
        self.events(events);
        if let Some(msg) = error {
            self.failed += 1;
            let key = if self.exceptions.len() >= MAX_EXCEPTION_KINDS && !self.exceptions.contains_key(msg) {
                "(other exceptions)"
            } else {
                msg
            };
            *self.exceptions.entry(key.to_string()).or_default() += 1;
        }
    }

    /// Checks and metrics outside an iteration (`setup`, `teardown`).
    pub fn events(&mut self, events: Events) {
        for ((group, name), (p, f)) in events.checks {
            if !group.is_empty() {
                let c = self.group(&group).checks.entry(name.clone()).or_default();
                c.passes += p;
                c.fails += f;
            }
            let c = self.checks.entry(name).or_default();
            c.passes += p;
            c.fails += f;
        }
        for (path, us) in events.groups {
            let g = self.group(&path);
            g.runs += 1;
            hist::record(g.duration.get_or_insert_with(hist::new), us);
        }
        for (kind, name, v) in events.metrics {
            let m = self.metrics.entry(name).or_insert_with(|| MetricAcc::new(kind));
            m.add(v);
        }
        for ((name, tags), (p, f)) in events.tagged_checks {
            if self.tagged_checks.len() < MAX_TAGGED || self.tagged_checks.contains_key(&(name.clone(), tags.clone())) {
                let c = self.tagged_checks.entry((name, tags)).or_default();
                c.passes += p;
                c.fails += f;
            }
        }
        for (kind, name, v, tags) in events.tagged_metrics {
            let key = (name, tags);
            if self.tagged_metrics.len() < MAX_TAGGED || self.tagged_metrics.contains_key(&key) {
                self.tagged_metrics.entry(key).or_insert_with(|| MetricAcc::new(kind)).add(v);
            }
        }
    }
}

impl MetricAcc {
    fn new(kind: MetricKind) -> MetricAcc {
        match kind {
            MetricKind::Counter => MetricAcc::Counter(0.0),
            MetricKind::Gauge => MetricAcc::Gauge(0.0),
            MetricKind::Rate => MetricAcc::Rate(0, 0),
            MetricKind::Trend => MetricAcc::Trend(Box::new(hist::new())),
        }
    }

    fn add(&mut self, v: f64) {
        match self {
            MetricAcc::Counter(s) => *s += v,
            MetricAcc::Gauge(g) => *g = v,
            MetricAcc::Rate(t, n) => {
                *n += 1;
                if v != 0.0 {
                    *t += 1;
                }
            }
            MetricAcc::Trend(h) => hist::record(h, (v.max(0.0) * 1000.0) as u64),
        }
    }

    fn copy(&self) -> MetricAcc {
        match self {
            MetricAcc::Counter(x) => MetricAcc::Counter(*x),
            MetricAcc::Gauge(x) => MetricAcc::Gauge(*x),
            MetricAcc::Rate(t, n) => MetricAcc::Rate(*t, *n),
            MetricAcc::Trend(h) => MetricAcc::Trend(h.clone()),
        }
    }

    /// Adds another worker's second of the same metric (one name used with
    /// two kinds: the first kind wins).
    fn merge(&mut self, o: &MetricAcc) {
        match (self, o) {
            (MetricAcc::Counter(a), MetricAcc::Counter(b)) => *a += b,
            (MetricAcc::Gauge(a), MetricAcc::Gauge(b)) => *a = *b,
            (MetricAcc::Rate(t, n), MetricAcc::Rate(t2, n2)) => {
                *t += t2;
                *n += n2;
            }
            (MetricAcc::Trend(a), MetricAcc::Trend(b)) => {
                let _ = a.add(&**b);
            }
            _ => {}
        }
    }

    fn wire(&self) -> CustomMetric {
        match self {
            MetricAcc::Counter(x) => CustomMetric::Counter { value: *x },
            MetricAcc::Gauge(x) => CustomMetric::Gauge { value: *x },
            MetricAcc::Rate(t, n) => CustomMetric::Rate { counts: PassFail { passes: *t, fails: n - t } },
            MetricAcc::Trend(h) => CustomMetric::Trend { hist: hist::encode(h) },
        }
    }
}

impl ScriptAcc {
    /// Adds another worker's second.
    pub fn merge(&mut self, o: &ScriptAcc) {
        self.iterations += o.iterations;
        self.dropped += o.dropped;
        self.failed += o.failed;
        if let Some(d) = &o.duration {
            let _ = self.duration.get_or_insert_with(hist::new).add(d);
        }
        for (k, v) in &o.checks {
            let c = self.checks.entry(k.clone()).or_default();
            c.passes += v.passes;
            c.fails += v.fails;
        }
        for (k, v) in &o.requests {
            self.requests.entry(k.clone()).or_insert_with(NamedAcc::new).merge(v);
        }
        for (k, v) in &o.metrics {
            match self.metrics.get_mut(k) {
                Some(m) => m.merge(v),
                None => {
                    self.metrics.insert(k.clone(), v.copy());
                }
            }
        }
        for (k, v) in &o.tagged_checks {
            let c = self.tagged_checks.entry(k.clone()).or_default();
            c.passes += v.passes;
            c.fails += v.fails;
        }
        for (k, v) in &o.tagged_metrics {
            match self.tagged_metrics.get_mut(k) {
                Some(m) => m.merge(v),
                None => {
                    self.tagged_metrics.insert(k.clone(), v.copy());
                }
            }
        }
        for (k, v) in &o.exceptions {
            *self.exceptions.entry(k.clone()).or_default() += v;
        }
        self.samples.extend(o.samples.iter().cloned());
        for (k, v) in &o.groups {
            self.group(k).merge(v);
        }
    }

    /// The wire form, with the VU gauges of the second's end.
    pub fn bucket(&self, vus: u64, vus_max: u64) -> ScriptBucket {
        ScriptBucket {
            iterations: self.iterations,
            dropped_iterations: self.dropped,
            failed_iterations: self.failed,
            iteration_duration: self.duration.as_ref().map(hist::encode).unwrap_or_default(),
            vus,
            vus_max,
            checks: self.checks.clone(),
            requests: self.requests.iter().map(|(k, v)| (k.clone(), v.wire())).collect(),
            metrics: self.metrics.iter().map(|(k, v)| (k.clone(), v.wire())).collect(),
            tagged_checks: self
                .tagged_checks
                .iter()
                .map(|((name, tags), c)| TaggedCheck {
                    name: name.clone(),
                    tags: super::tags::parse_key(tags),
                    passes: c.passes,
                    fails: c.fails,
                })
                .collect(),
            tagged_metrics: self
                .tagged_metrics
                .iter()
                .map(|((name, tags), m)| TaggedMetric {
                    name: name.clone(),
                    tags: super::tags::parse_key(tags),
                    metric: m.wire(),
                })
                .collect(),
            exceptions: self.exceptions.clone(),
            exception_samples: self.samples.clone(),
            groups: self
                .groups
                .iter()
                .map(|(k, g)| {
                    let b = GroupBucket {
                        runs: g.runs,
                        duration: g.duration.as_ref().map(hist::encode).unwrap_or_default(),
                        requests: g.requests,
                        failed_requests: g.failed,
                        checks: g.checks.clone(),
                    };
                    (k.clone(), b)
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_names_are_capped_per_second() {
        let mut a = ScriptAcc::default();
        for i in 0..MAX_NAMES + 50 {
            a.request(&format!("http://x/user/{i}"), "", &Arc::from(""), true, 10);
        }
        let w = a.bucket(0, 0);
        assert_eq!(w.requests.len(), MAX_NAMES + 1);
        assert_eq!(w.requests["(other names)"].sent, 50);
    }

    #[test]
    fn seconds_merge_by_kind() {
        let mut a = ScriptAcc::default();
        let mut ev = Events::default();
        ev.checks.insert((String::new(), "ok".into()), (2, 1));
        ev.metrics.push((MetricKind::Counter, "c".into(), 2.0));
        ev.metrics.push((MetricKind::Gauge, "g".into(), 5.0));
        ev.metrics.push((MetricKind::Rate, "r".into(), 1.0));
        ev.metrics.push((MetricKind::Rate, "r".into(), 0.0));
        a.iteration(1000, ev, Some("Error: boom"), None);
        a.request("http://x/a", "", &Arc::from(""), true, 500);
        let mut b = ScriptAcc::default();
        let mut ev = Events::default();
        ev.metrics.push((MetricKind::Counter, "c".into(), 3.0));
        ev.metrics.push((MetricKind::Gauge, "g".into(), 7.0));
        b.iteration(2000, ev, None, None);
        b.request("http://x/a", "", &Arc::from(""), false, 700);
        b.dropped();
        a.merge(&b);
        let w = a.bucket(3, 10);
        assert_eq!((w.iterations, w.dropped_iterations, w.failed_iterations, w.vus, w.vus_max), (2, 1, 1, 3, 10));
        assert_eq!(w.checks["ok"], PassFail { passes: 2, fails: 1 });
        assert_eq!(w.metrics["c"], CustomMetric::Counter { value: 5.0 });
        assert_eq!(w.metrics["g"], CustomMetric::Gauge { value: 7.0 });
        assert_eq!(w.metrics["r"], CustomMetric::Rate { counts: PassFail { passes: 1, fails: 1 } });
        assert_eq!((w.requests["http://x/a"].sent, w.requests["http://x/a"].failed), (2, 1));
        assert_eq!(w.exceptions["Error: boom"], 1);
    }

    #[test]
    fn groups_count_their_requests_checks_and_durations_by_path() {
        let mut a = ScriptAcc::default();
        let mut ev = Events::default();
        ev.checks.insert(("::login".into(), "200".into()), (1, 0));
        ev.checks.insert((String::new(), "200".into()), (0, 1));
        ev.groups.push(("::login::form".into(), 2000));
        ev.groups.push(("::login".into(), 5000));
        a.request("http://x/form", "::login::form", &Arc::from(""), false, 100);
        a.request("http://x/top", "", &Arc::from(""), true, 100);
        a.iteration(6000, ev, None, None);
        let mut b = ScriptAcc::default();
        let mut ev = Events::default();
        ev.groups.push(("::login".into(), 7000));
        b.iteration(7000, ev, None, None);
        a.merge(&b);
        let w = a.bucket(0, 0);
        assert_eq!(w.checks["200"], PassFail { passes: 1, fails: 1 }, "checks by name sum all groups");
        assert_eq!(w.groups.keys().collect::<Vec<_>>(), ["::login", "::login::form"]);
        let login = &w.groups["::login"];
        assert_eq!((login.runs, login.requests), (2, 0));
        assert_eq!(login.checks["200"], PassFail { passes: 1, fails: 0 });
        let d = hist::decode(&login.duration).unwrap();
        assert_eq!((d.len(), d.max() / 1000), (2, 7));
        let form = &w.groups["::login::form"];
        assert_eq!((form.runs, form.requests, form.failed_requests), (1, 1, 1));
    }
}
