//! The typed run domain: the states of runs, script runs, jobs and commands as
//! enums (each with its one SQL spelling, the contract's enum name where the
//! column holds one), the one formula of a script run's desired rate, and the
//! shapes the database hands the run-controller.
//!
//! Every state lives here once: no other module spells `'STATUS_RUNNING'` or
//! `'finished'`. The SQL mapping is `ToSql`/`FromSql` over `TEXT`, so a row reads
//! straight into the enum and an unknown spelling is an error, not a default.

use alilo_agent_api::{JobSpec, JobState};

/// Declare a `TEXT`-backed enum: its SQL spellings, `as_str`, `parse`, and the
/// `tokio_postgres` conversions.
macro_rules! sql_text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $sql:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling stored in Postgres (and, for contract enums, on the wire).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $sql),+
                }
            }

            /// The value of a stored spelling.
            pub fn parse(text: &str) -> Result<Self, String> {
                match text {
                    $($sql => Ok($name::$variant),)+
                    other => Err(format!("{other:?} is not a {}", stringify!($name))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'a> tokio_postgres::types::FromSql<'a> for $name {
            fn from_sql(
                ty: &tokio_postgres::types::Type,
                raw: &'a [u8],
            ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
                let text = <&str as tokio_postgres::types::FromSql>::from_sql(ty, raw)?;
                Ok($name::parse(text)?)
            }

            fn accepts(ty: &tokio_postgres::types::Type) -> bool {
                <&str as tokio_postgres::types::FromSql>::accepts(ty)
            }
        }

        impl tokio_postgres::types::ToSql for $name {
            fn to_sql(
                &self,
                ty: &tokio_postgres::types::Type,
                out: &mut bytes::BytesMut,
            ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
                <&str as tokio_postgres::types::ToSql>::to_sql(&self.as_str(), ty, out)
            }

            fn accepts(ty: &tokio_postgres::types::Type) -> bool {
                <&str as tokio_postgres::types::ToSql>::accepts(ty)
            }

            tokio_postgres::types::to_sql_checked!();
        }
    };
}

sql_text_enum!(
    /// A run's status: the contract's `Run.Status` names.
    RunStatus {
        /// Ended (the contract's zero value).
        Stopped = "STATUS_STOPPED_UNSPECIFIED",
        /// Written, jobs not yet running.
        Prepared = "STATUS_PREPARED",
        Running = "STATUS_RUNNING",
        /// Asked to stop; its jobs are being stopped.
        Stopping = "STATUS_STOPPING",
    }
);

impl RunStatus {
    /// The statuses the run-controller works on.
    pub const ACTIVE: [RunStatus; 3] = [RunStatus::Prepared, RunStatus::Running, RunStatus::Stopping];

    pub fn is_active(self) -> bool {
        self != RunStatus::Stopped
    }

    /// The value of the contract's enum number (`STATUS_RESERVED`, 3, is no
    /// status a run can have).
    pub fn from_number(n: i32) -> Option<Self> {
        match n {
            0 => Some(RunStatus::Stopped),
            1 => Some(RunStatus::Prepared),
            2 => Some(RunStatus::Running),
            4 => Some(RunStatus::Stopping),
            _ => None,
        }
    }
}

sql_text_enum!(
    /// A script run's status: the contract's `ScriptRun.Status` names.
    ScriptRunStatus {
        Stopped = "STATUS_STOPPED_UNSPECIFIED",
        Running = "STATUS_RUNNING",
        /// Every job of it failed.
        Failed = "STATUS_FAILED",
        Stopping = "STATUS_STOPPING",
    }
);

sql_text_enum!(
    /// What started a run.
    RunKind {
        /// `/v1/run/start`: every enabled script of a scenario.
        Scenario = "scenario",
        /// `/v1/run/start/simple-script`: one script at 2 rps for a minute.
        Smoke = "smoke",
    }
);

sql_text_enum!(
    /// The kind of script a script run runs.
    ScriptKind {
        Simple = "simple",
        /// Extended (JS) scripts.
        Extended = "extended",
    }
);

sql_text_enum!(
    /// Whether a script run should be running.
    ScriptRunDesired {
        Running = "running",
        Stopped = "stopped",
    }
);

sql_text_enum!(
    /// Whether a job should be running.
    JobDesired {
        Run = "run",
        Stop = "stop",
    }
);

sql_text_enum!(
    /// Where a job is in its life, as the controller last knew it.
    JobPhase {
        /// Written, not yet accepted by its agent.
        Starting = "starting",
        Pending = "pending",
        Running = "running",
        Stopping = "stopping",
        Finished = "finished",
        Failed = "failed",
        /// Its agent stopped answering (or the job never started): its share moved.
        Lost = "lost",
    }
);

impl JobPhase {
    /// Finished, failed or lost: nothing more happens to it.
    pub fn is_ended(self) -> bool {
        matches!(self, JobPhase::Finished | JobPhase::Failed | JobPhase::Lost)
    }
}

impl From<JobState> for JobPhase {
    fn from(state: JobState) -> Self {
        match state {
            JobState::Pending => JobPhase::Pending,
            JobState::Running => JobPhase::Running,
            JobState::Stopping => JobPhase::Stopping,
            JobState::Finished => JobPhase::Finished,
            JobState::Failed => JobPhase::Failed,
        }
    }
}

sql_text_enum!(
    /// A CommandService command: the contract's `Command.Type` names.
    Command {
        /// (Re)apply an active run's desired state.
        RunScenario = "TYPE_RUN_SCENARIO_UNSPECIFIED",
        StopScenario = "TYPE_STOP_SCENARIO",
        RunScript = "TYPE_RUN_SCRIPT",
        StopScript = "TYPE_STOP_SCRIPT",
        Update = "TYPE_UPDATE",
        Adjustment = "TYPE_ADJUSTMENT",
        RunSimpleScript = "TYPE_RUN_SIMPLE_SCRIPT",
    }
);

impl Command {
    /// The value of the contract's enum number; 6 and 7 are reserved numbers.
    pub fn from_number(n: i32) -> Option<Self> {
        match n {
            0 => Some(Command::RunScenario),
            1 => Some(Command::StopScenario),
            2 => Some(Command::RunScript),
            3 => Some(Command::StopScript),
            4 => Some(Command::Update),
            5 => Some(Command::Adjustment),
            8 => Some(Command::RunSimpleScript),
            _ => None,
        }
    }

    /// Whether the command acts on the scripts named in `script_ids`.
    pub fn needs_script_ids(self) -> bool {
        !matches!(self, Command::Update | Command::StopScenario | Command::RunScript | Command::RunScenario)
    }
}

sql_text_enum!(
    /// How a command ended: the contract's `Command.Status` names.
    CommandStatus {
        Created = "STATUS_CREATED_UNSPECIFIED",
        Processed = "STATUS_PROCESSED",
        Failed = "STATUS_FAILED",
        Completed = "STATUS_COMPLETED",
    }
);

/// The rate a script run should have now: its configured rate at the run's
/// percentage, plus what "increase" added; nothing once stopped. The only place
/// this formula is written.
#[allow(clippy::cast_precision_loss)]
pub fn desired_rps(target_rps: i64, percentage: i32, extra_rps: i64, desired: ScriptRunDesired) -> f64 {
    if desired == ScriptRunDesired::Stopped {
        return 0.0;
    }
    target_rps as f64 * f64::from(percentage) / 100.0 + extra_rps as f64
}

/// One active run as the controller loads it: what should be, and what it last
/// knew of its jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct RunState {
    pub id: i64,
    pub status: RunStatus,
    /// Bumped by every change of desired state; the controller's roll-up is
    /// written only if it is unchanged since the load.
    pub version: i64,
    /// All jobs of the run share this clock, so a moved share continues the profile.
    pub started_ms: i64,
    pub script_runs: Vec<ScriptRunState>,
    pub jobs: Vec<Job>,
}

/// A script run's desired state.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptRunState {
    pub id: i64,
    pub tag: String,
    /// The job every agent receives, before its share and the live rate.
    pub spec: JobSpec,
    /// Data file in our bucket, presigned at each start.
    pub data_key: Option<String>,
    pub desired_rps: f64,
    /// The script run, or its run, should stop (or its rate is 0).
    pub stop_wanted: bool,
    pub status: ScriptRunStatus,
}

/// A script run's share on one agent, as last recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub script_run_id: i64,
    pub agent_id: Option<i64>,
    /// Where its agent answers (with the certificate pins, for https).
    pub base_url: crate::agent_client::Endpoint,
    pub key: String,
    pub share: f64,
    pub desired: JobDesired,
    pub phase: JobPhase,
    /// Target rps and scale the agent was last told.
    pub sent: Option<(f64, f64)>,
    pub cursor: u64,
    pub poll_failures: i32,
    /// Seconds since its agent last answered for it (`None`: never).
    pub unseen_for: Option<f64>,
}

/// A live job that should run, against what its agent was last told: what
/// `is-change-loadlevel` compares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SentVsDesired {
    pub share: f64,
    /// Target rps and scale the agent was last told.
    pub sent: Option<(f64, f64)>,
    /// Its script run's desired rate.
    pub desired_rps: f64,
}

/// Whether some live job has not yet been told its desired rate and share.
pub fn change_pending(jobs: &[SentVsDesired]) -> bool {
    jobs.iter()
        .any(|j| j.sent.is_none_or(|(rps, scale)| (scale - j.share).abs() > 1e-9 || (rps - j.desired_rps).abs() > 1e-6))
}

/// An enabled agent that may receive work.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRow {
    pub id: i64,
    pub base_url: crate::agent_client::Endpoint,
    pub tags: Vec<String>,
    /// Self-registered (#13): healthy by its heartbeats, not probed.
    pub registered: bool,
    pub draining: bool,
    /// Seconds since its last heartbeat.
    pub heartbeat_age: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_reads_back_as_its_value() {
        for s in RunStatus::ALL {
            assert_eq!(RunStatus::parse(s.as_str()), Ok(*s));
        }
        for p in JobPhase::ALL {
            assert_eq!(JobPhase::parse(p.as_str()), Ok(*p));
        }
        for c in Command::ALL {
            assert_eq!(Command::parse(c.as_str()), Ok(*c));
        }
        assert!(RunStatus::parse("running").is_err());
    }

    #[test]
    fn contract_numbers_match_the_wire_tables() {
        for (n, name) in crate::wire::runs::RUN_STATUSES.iter().enumerate() {
            let n = i32::try_from(n).unwrap();
            assert_eq!(RunStatus::from_number(n).map(RunStatus::as_str), (*name != "STATUS_RESERVED").then_some(*name));
        }
        for (n, name) in crate::wire::runs::COMMAND_TYPES.iter().enumerate() {
            let n = i32::try_from(n).unwrap();
            assert_eq!(
                Command::from_number(n).map(Command::as_str),
                (!name.starts_with("TYPE_6") && !name.starts_with("TYPE_7")).then_some(*name)
            );
        }
    }

    #[test]
    fn a_change_is_pending_until_every_live_job_was_told_its_rate_and_share() {
        let told = SentVsDesired { share: 0.5, sent: Some((60.0, 0.5)), desired_rps: 60.0 };
        assert!(!change_pending(&[told]));
        assert!(change_pending(&[told, SentVsDesired { sent: None, ..told }]));
        assert!(change_pending(&[SentVsDesired { desired_rps: 30.0, ..told }]));
        assert!(change_pending(&[SentVsDesired { share: 1.0, ..told }]));
        assert!(!change_pending(&[]));
    }

    #[test]
    fn the_desired_rate_is_the_percentage_of_the_target_plus_the_increase() {
        assert_eq!(desired_rps(40, 150, 0, ScriptRunDesired::Running), 60.0);
        assert_eq!(desired_rps(20, 50, 20, ScriptRunDesired::Running), 30.0);
        assert_eq!(desired_rps(20, 50, 20, ScriptRunDesired::Stopped), 0.0);
    }
}
