//! Verdicts, reports and comparisons of runs (#12), as pure functions over a
//! run's stored seconds: [`rules`] judges thresholds (k6's syntax, parsed by
//! `alilo_agent_api::threshold`), [`compare`] tells a real change from noise,
//! [`chart`] draws inline SVG, [`report`] writes the self-contained HTML file
//! and [`prom`] the Prometheus exposition, which [`remote_write`] pushes. The I/O around them lives in
//! `service::verdicts` and `db::verdicts`.

pub mod chart;
pub mod compare;
pub mod dist;
pub mod prom;
pub mod remote_write;
pub mod report;
pub mod rules;
