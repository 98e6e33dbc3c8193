//! `GET /metrics`: the agent's own figures in the Prometheus text format
//! (0.0.4), behind the same bearer token as the rest of the API: the host
//! (CPU, memory, network), the process, and each job it remembers (state,
//! rate aimed at, requests sent, in flight). The run's merged figures are the
//! backend's `/metrics`; this is what a fleet dashboard needs per machine.

use alilo_agent_api::{AgentInfo, JobBrief};
use std::fmt::Write as _;

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Escapes a label value (backslash, quote, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn one(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    family(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// Renders the agent's figures and its jobs.
pub fn render(info: &AgentInfo, jobs: &[JobBrief]) -> String {
    let mut out = String::with_capacity(2048 + jobs.len() * 400);
    family(&mut out, "alilo_agent_info", "gauge", "The agent's version.");
    let _ = writeln!(out, "alilo_agent_info{{version=\"{}\"}} 1", label(&info.version));
    one(&mut out, "alilo_agent_jobs", "gauge", "Jobs remembered.", info.jobs);
    one(&mut out, "alilo_agent_active_jobs", "gauge", "Jobs pending or running.", info.active_jobs);
    one(&mut out, "alilo_agent_in_flight", "gauge", "Requests in flight, all jobs.", info.in_flight);
    one(&mut out, "alilo_agent_open_connections", "gauge", "Connections held open to targets.", info.open_connections);
    one(&mut out, "alilo_agent_cpu_cores", "gauge", "Logical cores of the host.", info.cpu.cores);
    one(
        &mut out,
        "alilo_agent_cpu_usage_percent",
        "gauge",
        "Host CPU busy over the last second (0-100).",
        info.cpu.usage_percent,
    );
    one(
        &mut out,
        "alilo_agent_process_cpu_percent",
        "gauge",
        "This process's CPU over the last second, percent of one core.",
        info.cpu.process_percent,
    );
    one(&mut out, "alilo_agent_load1", "gauge", "1-minute load average of the host.", info.cpu.load1);
    one(&mut out, "alilo_agent_memory_total_bytes", "gauge", "Host memory.", info.memory.total_bytes);
    one(&mut out, "alilo_agent_memory_available_bytes", "gauge", "Host memory available.", info.memory.available_bytes);
    one(
        &mut out,
        "alilo_agent_process_resident_bytes",
        "gauge",
        "This process's resident set.",
        info.memory.process_rss_bytes,
    );
    one(
        &mut out,
        "alilo_agent_network_receive_bytes_total",
        "counter",
        "Bytes received by the host since boot.",
        info.network.rx_bytes,
    );
    one(
        &mut out,
        "alilo_agent_network_transmit_bytes_total",
        "counter",
        "Bytes sent by the host since boot.",
        info.network.tx_bytes,
    );
    family(&mut out, "alilo_agent_job_state", "gauge", "1 for the job's state.");
    for j in jobs {
        let state = format!("{:?}", j.state).to_lowercase();
        let _ = writeln!(out, "alilo_agent_job_state{{job=\"{}\",state=\"{state}\"}} 1", label(&j.id));
    }
    family(&mut out, "alilo_agent_job_target_rps", "gauge", "Rate the job aims at now.");
    for j in jobs {
        let _ = writeln!(out, "alilo_agent_job_target_rps{{job=\"{}\"}} {}", label(&j.id), j.current_rps);
    }
    family(&mut out, "alilo_agent_job_in_flight", "gauge", "Requests of the job in flight.");
    for j in jobs {
        let _ = writeln!(out, "alilo_agent_job_in_flight{{job=\"{}\"}} {}", label(&j.id), j.in_flight);
    }
    family(&mut out, "alilo_agent_job_requests_total", "counter", "Requests the job sent.");
    for j in jobs {
        let _ = writeln!(out, "alilo_agent_job_requests_total{{job=\"{}\"}} {}", label(&j.id), j.sent);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alilo_agent_api::JobState;

    #[test]
    fn job_labels_are_escaped_and_every_family_is_typed() {
        let info = AgentInfo {
            version: "1.2.3".into(),
            capabilities: vec![],
            cpu: Default::default(),
            memory: Default::default(),
            network: Default::default(),
            open_connections: 3,
            active_jobs: 1,
            jobs: 1,
            in_flight: 4,
        };
        let job = JobBrief {
            id: "a\"b\\c".into(),
            state: JobState::Running,
            reason: None,
            current_rps: 12.5,
            in_flight: 4,
            sent: 99,
        };
        let text = render(&info, &[job]);
        assert!(text.contains("alilo_agent_job_requests_total{job=\"a\\\"b\\\\c\"} 99"), "{text}");
        assert!(text.contains("alilo_agent_job_state{job=\"a\\\"b\\\\c\",state=\"running\"} 1"), "{text}");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(text.contains(&format!("# TYPE {name} ")), "{name} has no TYPE line");
        }
    }
}
