//! A job's scenarios at run time ([`Plan`]), and their executors on one
//! worker thread ([`run`]): VU loops for the closed model, a scheduler for
//! the arrival rates, all scenarios of a job in parallel.
//!
//! - **Shares.** Each of the job's `W` workers runs its share of every
//!   scenario's VUs ([`plan::share`]) and of its arrival rate (the open-model
//!   [`Schedule`], interleaved as for simple jobs); `shared-iterations`
//!   share one counter across workers.
//! - **The factor.** VU counts and arrival rates are multiplied live by the
//!   job's factor, `scale × target_rps / reference_rps` ([`Plan::factor`]):
//!   a rate change (`/v1/run/adjustment` on the platform) adds or removes
//!   VUs within one tick ([`TICK`]). A removed VU finishes its iteration,
//!   interrupted after `gracefulRampDown` (ramping-vus) or `gracefulStop`.
//! - **The clock.** VUs for the start are created on every worker first (as
//!   k6 initialises its VUs before the test); the scenarios' clock starts
//!   when all are ready (standalone), or is the job's own clock (the
//!   platform: every agent's share ramps together).
//! - **The end.** At a scenario's end (or a stop) its VUs start no new
//!   iteration; those running get `gracefulStop` (a stop: its `wait`), then
//!   are interrupted ([`Cut`]): an interrupted iteration is not counted.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::driver::{Cut, ScriptWorker};
use super::plan::{Executor, Scenario, ScenarioInfo, scaled, share};
use super::pool::Pool;
use super::tags::Tags;
use crate::engine::Job;
use crate::engine::open_loop;
use crate::engine::schedule::Schedule;

/// How often a scenario re-reads its VU count and the live factor.
pub const TICK: Duration = Duration::from_millis(10);
/// VUs a worker creates before the start at most (the rest as needed).
const MAX_INITIAL_VUS: u64 = 200;
/// How long interrupted iterations may take to unwind.
const UNWIND: Duration = Duration::from_secs(2);

/// A scenario of a running job.
pub struct ScenarioRun {
    /// Its definition.
    pub def: Scenario,
    /// What its VUs are told.
    pub info: Arc<ScenarioInfo>,
    /// Iterations started (`exec.scenario.iterationInTest`).
    started: AtomicU64,
    /// `shared-iterations`: iterations not yet taken.
    left: AtomicU64,
}

impl ScenarioRun {
    /// Takes one of the shared iterations; `false` when none is left.
    fn take_one(&self) -> bool {
        self.left.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok()
    }
}

/// A job's scenarios, shared by its workers.
pub struct Plan {
    /// The scenarios.
    pub scenarios: Vec<Arc<ScenarioRun>>,
    /// Target rps at which the scenarios run as written (0: the factor is
    /// the scale alone).
    pub reference_rps: f64,
    /// Iterations start until this long after the clock's start (the last
    /// scenario's end, capped by the profile on the platform).
    pub end: Duration,
    t0: OnceLock<Instant>,
    ready: AtomicUsize,
    workers: usize,
}

impl Plan {
    /// The plan of `scenarios` on `workers` workers. `clock`: the start of
    /// the scenarios' clock when fixed (the job's origin on the platform),
    /// else it starts once every worker has its first VUs. `cap`: the
    /// longest the scenarios may start iterations. `factor`: the job's
    /// factor at the start (it fixes how many `shared-iterations` there are).
    /// `global`: the script's `options.tags`.
    pub fn new(
        scenarios: Vec<Scenario>,
        global: &Tags,
        reference_rps: f64,
        clock: Option<Instant>,
        cap: Option<Duration>,
        workers: usize,
        factor: f64,
    ) -> Plan {
        let last = scenarios.iter().map(Scenario::end).max().unwrap_or_default();
        let end = cap.map_or(last, |c| c.min(last));
        let t0 = OnceLock::new();
        if let Some(c) = clock {
            let _ = t0.set(c);
        }
        let scenarios = scenarios
            .into_iter()
            .map(|def| {
                let left = match def.executor {
                    Executor::SharedIterations { iterations, .. } => scaled(iterations, factor),
                    _ => 0,
                };
                Arc::new(ScenarioRun {
                    info: Arc::new(def.info(global)),
                    def,
                    started: AtomicU64::new(0),
                    left: AtomicU64::new(left),
                })
            })
            .collect();
        Plan { scenarios, reference_rps, end, t0, ready: AtomicUsize::new(0), workers: workers.max(1) }
    }

    /// The job's factor now: `scale × target_rps / reference_rps`.
    pub fn factor(&self, job: &Job) -> f64 {
        let (target, scale) = job.live_rate();
        if self.reference_rps > 0.0 { scale * target / self.reference_rps } else { scale }
    }

    /// When the scenarios' clock started, if it has.
    pub fn clock(&self) -> Option<Instant> {
        self.t0.get().copied()
    }

    /// Iterations per second the arrival-rate scenarios aim at, `t` after
    /// the clock's start (before the factor).
    pub fn rate_at(&self, t: Duration) -> f64 {
        if t >= self.end {
            return 0.0;
        }
        self.scenarios
            .iter()
            .filter_map(|s| t.checked_sub(s.def.start_time).map(|local| s.def.executor.rate_at(local)))
            .sum()
    }

    /// Whether a scenario is closed-model.
    pub fn has_closed_model(&self) -> bool {
        self.scenarios.iter().any(|s| s.def.executor.is_closed())
    }

    /// A worker has created its first VUs: the last one starts the clock.
    fn worker_ready(&self) {
        if self.ready.fetch_add(1, Ordering::AcqRel) + 1 >= self.workers {
            let _ = self.t0.set(Instant::now());
        }
    }

    /// VUs worker `index` of `count` creates before the start.
    fn initial_vus(&self, index: usize, count: usize, factor: f64) -> u64 {
        let n: u64 = self
            .scenarios
            .iter()
            .map(|s| match &s.def.executor {
                Executor::ArrivalRate { pre_allocated_vus, .. } => {
                    share(scaled(*pre_allocated_vus, factor).max(1), index, count)
                }
                e => share(scaled(e.peak_vus(), factor), index, count),
            })
            .sum();
        n.min(MAX_INITIAL_VUS)
    }
}

/// Runs worker `index` of `count`'s share of the plan's scenarios to their
/// ends.
pub async fn run(sw: Rc<ScriptWorker>, plan: Arc<Plan>, index: usize, count: usize) {
    let job = sw.job.clone();
    let pool = Rc::new(Pool::new(job.clone(), sw.shared.clone(), share(job.max_vus, index, count)));
    let initial = plan.initial_vus(index, count, plan.factor(&job));
    let ok = pool.fill(initial).await;
    plan.worker_ready();
    if !ok {
        return;
    }
    let t0 = loop {
        if let Some(t) = plan.clock() {
            break t;
        }
        if job.stopping() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let tasks: Vec<_> = plan
        .scenarios
        .iter()
        .map(|s| {
            let (sw, pool, plan, s) = (sw.clone(), pool.clone(), plan.clone(), s.clone());
            tokio::task::spawn_local(async move {
                if s.def.executor.is_closed() {
                    closed(&sw, &pool, &plan, &s, t0, index, count).await;
                } else {
                    open(&sw, &pool, &plan, &s, t0, index, count).await;
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    pool.clear();
}

/// Waits for scenario `s`'s `startTime` after `t0` and marks it started;
/// `None` when the job stops first.
async fn begin(job: &Job, s: &ScenarioRun, t0: Instant) -> Option<Instant> {
    let start = t0 + s.def.start_time;
    if !until(job, start).await {
        return None;
    }
    let _ = s.info.started.set(start);
    Some(start)
}

/// Sleeps until `at`; `false` when the job stops first.
async fn until(job: &Job, at: Instant) -> bool {
    while Instant::now() < at {
        if job.stopping() {
            return false;
        }
        let left = at.saturating_duration_since(Instant::now());
        tokio::time::sleep(left.min(TICK)).await;
    }
    !job.stopping()
}

/// One VU slot of a closed-model scenario on this worker.
#[derive(Default)]
struct Slot {
    /// Its loop runs.
    running: Cell<bool>,
    /// Start no new iteration.
    stop: Cell<bool>,
    /// When a stopped slot's running iteration is interrupted.
    stop_at: Cell<Option<Instant>>,
    /// No iteration is left for it (per-vu-iterations done, shared ones gone).
    done: Cell<bool>,
    /// Iterations it ran (per-vu-iterations).
    iterations: Cell<u64>,
    cut: Cut,
}

/// A closed-model scenario on this worker: its VU slots follow the
/// executor's VU count × the factor, each looping over iterations.
async fn closed(
    sw: &Rc<ScriptWorker>,
    pool: &Rc<Pool>,
    plan: &Plan,
    s: &Arc<ScenarioRun>,
    t0: Instant,
    index: usize,
    count: usize,
) {
    let job = sw.job.clone();
    let Some(start) = begin(&job, s, t0).await else { return };
    let end = t0 + plan.end.min(s.def.end()).max(s.def.start_time);
    let ramp_down = match &s.def.executor {
        Executor::RampingVus { graceful_ramp_down, .. } => *graceful_ramp_down,
        _ => s.def.graceful_stop,
    };
    let counted = matches!(s.def.executor, Executor::PerVuIterations { .. } | Executor::SharedIterations { .. });
    let mut slots: Vec<Rc<Slot>> = Vec::new();
    loop {
        let now = Instant::now();
        if job.stopping() || now >= end {
            break;
        }
        let want = share(scaled(s.def.executor.vus_at(now - start), plan.factor(&job)), index, count) as usize;
        while slots.len() < want {
            slots.push(Rc::new(Slot::default()));
        }
        for slot in &slots[..want] {
            if slot.done.get() {
                continue;
            }
            slot.stop.set(false);
            slot.stop_at.set(None);
            if !slot.running.get() {
                slot.cut.reset();
                slot.running.set(true);
                let (sw, pool, s, slot) = (sw.clone(), pool.clone(), s.clone(), slot.clone());
                tokio::task::spawn_local(async move { vu_loop(&sw, &pool, &s, &slot).await });
            }
        }
        for slot in &slots[want..] {
            if slot.running.get() && !slot.stop.get() {
                slot.stop.set(true);
                slot.stop_at.set(Some(now + ramp_down));
            }
            if slot.running.get() && slot.stop_at.get().is_some_and(|at| now >= at) {
                slot.cut.fire();
            }
        }
        if counted && slots[..want].iter().all(|sl| sl.done.get() && !sl.running.get()) {
            break;
        }
        tokio::time::sleep(TICK).await;
    }
    for slot in &slots {
        slot.stop.set(true);
    }
    let grace = if job.stopping() { *job.stop_wait.lock().expect("stop lock") } else { s.def.graceful_stop };
    settle(
        &job,
        grace,
        || slots.iter().any(|sl| sl.running.get()),
        || {
            for slot in &slots {
                slot.cut.fire();
            }
        },
    )
    .await;
}

/// Waits up to `grace` for `busy()` to turn false, then `cut()`s and waits
/// a little more for the interrupted iterations to unwind.
async fn settle(job: &Job, grace: Duration, busy: impl Fn() -> bool, cut: impl FnOnce()) {
    let deadline = Instant::now() + grace;
    while busy() && Instant::now() < deadline {
        // A stop asked during the graceful stop shortens it.
        if job.stopping() && Instant::now() + *job.stop_wait.lock().expect("stop lock") < deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    if busy() {
        cut();
        let deadline = Instant::now() + UNWIND;
        while busy() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// One VU's loop over iterations of a closed-model scenario.
async fn vu_loop(sw: &Rc<ScriptWorker>, pool: &Rc<Pool>, s: &Arc<ScenarioRun>, slot: &Rc<Slot>) {
    let Some(mut vu) = pool.take().await else {
        slot.running.set(false);
        return;
    };
    loop {
        if slot.stop.get() || slot.cut.fired() || sw.job.stopping() {
            break;
        }
        match &s.def.executor {
            Executor::PerVuIterations { iterations, .. } if slot.iterations.get() >= *iterations => {
                slot.done.set(true);
                break;
            }
            Executor::SharedIterations { .. } if !s.take_one() => {
                slot.done.set(true);
                break;
            }
            _ => {}
        }
        let n = s.started.fetch_add(1, Ordering::Relaxed);
        sw.iterate(&mut vu, &s.info, n, &slot.cut, None).await;
        slot.iterations.set(slot.iterations.get() + 1);
        // An iteration that never waits must not starve the worker.
        tokio::task::yield_now().await;
    }
    pool.give(vu);
    slot.running.set(false);
}

/// An arrival-rate scenario on this worker: its share of the rate × the
/// factor, on at most its share of `maxVUs` × the factor.
async fn open(
    sw: &Rc<ScriptWorker>,
    pool: &Rc<Pool>,
    plan: &Plan,
    s: &Arc<ScenarioRun>,
    t0: Instant,
    index: usize,
    count: usize,
) {
    let job = sw.job.clone();
    let Some(start) = begin(&job, s, t0).await else { return };
    let Executor::ArrivalRate { max_vus, .. } = s.def.executor else { return };
    let length = plan.end.saturating_sub(s.def.start_time).min(s.def.executor.length());
    let schedule = Schedule::new(index, count, s.def.executor.rate_at(Duration::ZERO) * plan.factor(&job), length);
    let busy = Rc::new(Cell::new(0u64));
    let cut = Rc::new(Cut::default());
    let rate = |t: Duration| s.def.executor.rate_at(t) * plan.factor(&job);
    // The same pacing as simple jobs (`open_loop::drive`): the start lag of
    // an iteration is the scheduler's, not a timer's rounding.
    open_loop::drive(&job, start, schedule, rate, |intended| {
        let cap = share(scaled(max_vus, plan.factor(&job)).max(1), index, count).max(1);
        let vu = if busy.get() < cap { pool.try_take() } else { None };
        let Some(mut vu) = vu else {
            sw.drop_iteration();
            return;
        };
        busy.set(busy.get() + 1);
        let lag = intended.elapsed();
        let (sw, pool, s, busy, cut) = (sw.clone(), pool.clone(), s.clone(), busy.clone(), cut.clone());
        tokio::task::spawn_local(async move {
            let n = s.started.fetch_add(1, Ordering::Relaxed);
            sw.iterate(&mut vu, &s.info, n, &cut, Some(lag)).await;
            pool.give(vu);
            busy.set(busy.get() - 1);
        });
    })
    .await;
    let grace = if job.stopping() { *job.stop_wait.lock().expect("stop lock") } else { s.def.graceful_stop };
    settle(&job, grace, || busy.get() > 0, || cut.fire()).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::js::plan::Stage;

    fn scenario(name: &str, executor: Executor, start: u64) -> Scenario {
        Scenario {
            name: name.into(),
            executor,
            start_time: Duration::from_secs(start),
            graceful_stop: crate::js::plan::DEFAULT_GRACEFUL,
            exec: None,
            env: Default::default(),
            tags: Default::default(),
        }
    }

    #[test]
    fn the_plan_ends_with_its_last_scenario_within_its_cap_and_sums_the_rates() {
        let rate = Executor::ArrivalRate {
            constant: true,
            start_rate: 10.0,
            stages: vec![Stage { target: 10.0, duration: Duration::from_secs(5) }],
            pre_allocated_vus: 1,
            max_vus: 2,
        };
        let vus = Executor::ConstantVus { vus: 2, duration: Duration::from_secs(3) };
        let shared = Executor::SharedIterations { vus: 2, iterations: 10, max_duration: Duration::from_secs(4) };
        let scenarios = vec![
            scenario("a", rate.clone(), 0),
            scenario("b", rate, 2),
            scenario("c", vus, 4),
            scenario("d", shared, 0),
        ];
        let p = Plan::new(scenarios.clone(), &Tags::new(), 0.0, None, None, 2, 0.5);
        assert_eq!(p.end, Duration::from_secs(7));
        assert_eq!((p.rate_at(Duration::from_secs(1)), p.rate_at(Duration::from_secs(3))), (10.0, 20.0));
        assert_eq!(p.rate_at(Duration::from_secs(7)), 0.0);
        assert_eq!(p.scenarios[3].left.load(Ordering::Relaxed), 5, "shared iterations scale with the factor");
        assert!(p.has_closed_model() && p.clock().is_none());
        let capped =
            Plan::new(scenarios, &Tags::new(), 0.0, Some(Instant::now()), Some(Duration::from_secs(4)), 1, 1.0);
        assert_eq!(capped.end, Duration::from_secs(4));
        assert!(capped.clock().is_some());
        for _ in 0..10 {
            assert!(capped.scenarios[3].take_one());
        }
        assert!(!capped.scenarios[3].take_one(), "ten in all");
    }
}
