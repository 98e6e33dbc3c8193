//! Host figures for `GET /v1/agent`, read from `/proc` (Linux). A sampler
//! task turns the cumulative counters into per-second rates.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alilo_agent_api::{CpuInfo, MemoryInfo, NetworkInfo};

/// Clock ticks per second of `/proc/*/stat` (USER_HZ is 100 on Linux).
const USER_HZ: f64 = 100.0;

#[derive(Debug, Clone, Copy, Default)]
struct Raw {
    cpu_busy: u64,
    cpu_total: u64,
    proc_ticks: u64,
    rx: u64,
    tx: u64,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn raw() -> Raw {
    let stat = read("/proc/stat");
    let (mut busy, mut total) = (0, 0);
    if let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) {
        let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
        total = v.iter().take(8).sum();
        let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
        busy = total.saturating_sub(idle);
    }
    let pstat = read("/proc/self/stat");
    // Fields after the command name (which may contain spaces).
    let after = pstat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = f.get(11).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    let (rx, tx) = net_totals();
    Raw { cpu_busy: busy, cpu_total: total, proc_ticks: ticks, rx, tx }
}

fn net_totals() -> (u64, u64) {
    let dev = read("/proc/net/dev");
    let mut all = (0, 0);
    let mut lo = (0, 0);
    for line in dev.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let v: Vec<u64> = rest.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        let (rx, tx) = (v.first().copied().unwrap_or(0), v.get(8).copied().unwrap_or(0));
        if name.trim() == "lo" {
            lo = (rx, tx);
        } else {
            all.0 += rx;
            all.1 += tx;
        }
    }
    if all == (0, 0) { lo } else { all }
}

fn meminfo_kb(text: &str, key: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|x| x.parse().ok())
        .unwrap_or(0)
}

/// Resident set size of this process in bytes.
pub fn rss_bytes() -> u64 {
    meminfo_kb(&read("/proc/self/status"), "VmRSS:") * 1024
}

#[derive(Debug, Clone, Default)]
struct Rates {
    cpu_pct: f64,
    proc_pct: f64,
    rx_s: f64,
    tx_s: f64,
}

/// Samples host counters once a second.
#[derive(Clone, Default)]
pub struct Sampler {
    rates: Arc<Mutex<Rates>>,
}

impl Sampler {
    /// Starts sampling on the current runtime.
    pub fn start() -> Sampler {
        let s = Sampler::default();
        let rates = s.rates.clone();
        tokio::spawn(async move {
            let mut prev = (raw(), Instant::now());
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now = (raw(), Instant::now());
                let dt = now.1.duration_since(prev.1).as_secs_f64().max(1e-3);
                let (a, b) = (prev.0, now.0);
                let total = b.cpu_total.saturating_sub(a.cpu_total).max(1) as f64;
                *rates.lock().expect("rates lock") = Rates {
                    cpu_pct: 100.0 * b.cpu_busy.saturating_sub(a.cpu_busy) as f64 / total,
                    proc_pct: 100.0 * b.proc_ticks.saturating_sub(a.proc_ticks) as f64 / USER_HZ / dt,
                    rx_s: b.rx.saturating_sub(a.rx) as f64 / dt,
                    tx_s: b.tx.saturating_sub(a.tx) as f64 / dt,
                };
                prev = now;
            }
        });
        s
    }

    /// CPU, memory and network now.
    pub fn snapshot(&self) -> (CpuInfo, MemoryInfo, NetworkInfo) {
        let r = self.rates.lock().expect("rates lock").clone();
        let mem = read("/proc/meminfo");
        let load1 = read("/proc/loadavg").split_whitespace().next().and_then(|x| x.parse().ok()).unwrap_or(0.0);
        let (rx, tx) = net_totals();
        (
            CpuInfo {
                cores: std::thread::available_parallelism().map(|n| n.get() as u64).unwrap_or(1),
                usage_percent: r.cpu_pct,
                process_percent: r.proc_pct,
                load1,
            },
            MemoryInfo {
                total_bytes: meminfo_kb(&mem, "MemTotal:") * 1024,
                available_bytes: meminfo_kb(&mem, "MemAvailable:") * 1024,
                process_rss_bytes: rss_bytes(),
            },
            NetworkInfo { rx_bytes: rx, tx_bytes: tx, rx_bytes_per_s: r.rx_s, tx_bytes_per_s: r.tx_s },
        )
    }
}
