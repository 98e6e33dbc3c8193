//! Why a script run failed, in words a user can act on: what `script_run.info`
//! shows (the original UI displays it on the run page).
//!
//! The agents and the controller record a raw reason per job (`jobs.reason`:
//! `data file: fetching https://…?X-Amz-Signature=…: status 403`, `agent answered
//! 422: …`). [`explain`] turns one into a sentence naming the cause and the fix,
//! without presigned URLs; [`script_run_info`] joins those of a script run's
//! failed jobs. Reasons of jobs that ended normally (stopped, duration reached)
//! are not failures and give no info.

/// Writes the `info` of each script run of `run_ids` that has failed jobs, from
/// the jobs' reasons as they are in this transaction. The controller calls it
/// once per pass; a script run without failures keeps its info.
pub async fn store_info(
    tx: &impl deadpool_postgres::GenericClient,
    run_ids: &[i64],
) -> Result<(), tokio_postgres::Error> {
    let rows = tx
        .query(
            "SELECT j.script_run_id, j.state, j.reason FROM jobs j JOIN script_runs s ON s.id = j.script_run_id
             WHERE s.run_id = ANY($1) AND j.reason <> '' ORDER BY j.script_run_id, j.id",
            &[&run_ids],
        )
        .await?;
    let mut ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    ids.dedup();
    for id in ids {
        let mine: Vec<JobReason<'_>> = rows
            .iter()
            .filter(|r| r.get::<_, i64>(0) == id)
            .map(|r| JobReason { state: r.get(1), reason: r.get(2) })
            .collect();
        let info = script_run_info(&mine);
        if !info.is_empty() {
            tx.execute("UPDATE script_runs SET info = $2 WHERE id = $1 AND info <> $2", &[&id, &info]).await?;
        }
    }
    Ok(())
}

/// One job of a script run as the controller sees it: its state and raw reason.
pub struct JobReason<'a> {
    pub state: &'a str,
    pub reason: &'a str,
}

/// Reasons of a finished job that mean its agent ended it before its time.
const ENDED_EARLY: [&str; 2] = ["lease expired", "its agent ended it"];

/// The `info` of a script run from its jobs: each distinct explained failure,
/// joined by ` | `; empty when nothing failed.
pub fn script_run_info(jobs: &[JobReason<'_>]) -> String {
    let mut out: Vec<String> = Vec::new();
    for j in jobs {
        // A job the controller records as finished because its agent ended it
        // early (its lease ran out, the agent shut down) did fail the script run.
        let ended_early = j.state == "finished" && ENDED_EARLY.iter().any(|p| j.reason.starts_with(p));
        let failed =
            matches!(j.state, "failed" | "lost") || (j.state == "starting" && !j.reason.is_empty()) || ended_early;
        if !failed || j.reason.trim().is_empty() {
            continue;
        }
        let text = explain(j.reason);
        if !out.contains(&text) {
            out.push(text);
        }
    }
    out.join(" | ")
}

/// A raw job reason as a sentence with the cause and what to do.
pub fn explain(raw: &str) -> String {
    let raw = strip_query_strings(raw.trim());
    if let Some(detail) = raw.strip_prefix("data file: ") {
        if detail.starts_with("fetching ") {
            return format!(
                "The data file could not be downloaded by the agent ({detail}): check that the file \
                 still exists in the bucket (the bucket page) and that ammo_url names it."
            );
        }
        return format!(
            "The data file could not be read ({detail}): upload it as a JSON array of objects, JSON \
             lines, or CSV with a header line, with a .json, .jsonl or .csv name."
        );
    }
    if raw.contains("is not a field of the data file") {
        return format!(
            "A {{{{placeholder}}}} of the script names no column of its data file ({raw}): rename the \
             placeholder or the column."
        );
    }
    if let Some(detail) = raw.strip_prefix("request.url: ") {
        return format!(
            "The script's URL cannot be used ({detail}): check its scheme (empty means https), host \
             and path."
        );
    }
    if raw.starts_with("request.") {
        return format!("The script's request is invalid ({raw}): correct the named field and start again.");
    }
    if let Some(detail) = raw.strip_prefix("agent unreachable: ") {
        return format!(
            "The agent could not be reached ({detail}): check that it runs and that its host and port \
             on the agents page are right, or disable it."
        );
    }
    if raw.starts_with("agent stopped answering") {
        return format!(
            "The agent stopped answering the controller ({raw}): check that it runs and that the \
             network between the backend and it is up; its share moves to another enabled agent of \
             the script's tag when there is one."
        );
    }
    if let Some(detail) = raw.strip_prefix("agent answered ") {
        return format!("The agent refused the job ({detail}): correct the script as the message says.");
    }
    if raw.starts_with("lease expired") {
        return format!(
            "The agent stopped the job because the controller stopped reaching it ({raw}): check the \
             network between the backend and the agent."
        );
    }
    if let Some(detail) = raw.strip_prefix("its agent ended it: ") {
        return format!(
            "The agent ended the job before its time ({detail}): it was shut down or restarted; \
             start the script again once it is back, or give the script's tag to another agent."
        );
    }
    if raw == "never started" {
        return "The job never started on its agent: check that the agent runs and is reachable.".to_string();
    }
    format!("The job failed: {raw}.")
}

/// Presigned URLs carry credentials and are long: keep the URL, drop its query.
fn strip_query_strings(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut in_query = false;
    for c in raw.chars() {
        if in_query {
            if c.is_whitespace() || c == ':' {
                in_query = false;
                out.push(c);
            }
            continue;
        }
        if c == '?' && (out.contains("http://") || out.contains("https://")) {
            in_query = true;
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(jobs: &[(&str, &str)]) -> String {
        let jobs: Vec<JobReason<'_>> = jobs.iter().map(|(state, reason)| JobReason { state, reason }).collect();
        script_run_info(&jobs)
    }

    #[test]
    fn an_unreadable_data_file_says_what_formats_are_read() {
        let text = explain("data file: data is not a JSON array of objects: expected value at line 1 column 1");
        assert!(text.starts_with("The data file could not be read (data is not a JSON array"), "{text}");
        assert!(text.contains("CSV with a header line"), "{text}");
    }

    #[test]
    fn a_data_file_that_cannot_be_downloaded_hides_the_presigned_signature() {
        let text =
            explain("data file: fetching https://s3.test/b/k.csv?X-Amz-Signature=abc&X-Amz-Credential=k: status 403");
        assert!(text.contains("fetching https://s3.test/b/k.csv: status 403"), "{text}");
        assert!(!text.contains("Signature"), "{text}");
    }

    #[test]
    fn a_placeholder_naming_no_column_says_so() {
        let text = explain("request.body: placeholder {{nope}} is not a field of the data file (fields: [\"id\"])");
        assert!(text.starts_with("A {{placeholder}} of the script names no column"), "{text}");
    }

    #[test]
    fn a_bad_url_names_the_scheme_rule() {
        let text = explain("request.url: cannot resolve nowhere.invalid: failed to lookup address");
        assert!(text.contains("empty means https"), "{text}");
    }

    #[test]
    fn an_unreachable_or_refusing_agent_says_where_to_look() {
        assert!(explain("agent unreachable: connection refused").contains("agents page"));
        assert!(
            explain("agent stopped answering (3 polls in a row)")
                .starts_with("The agent stopped answering the controller (agent stopped answering (3 polls")
        );
        assert!(
            explain("agent answered 422: request.url: bad").starts_with("The agent refused the job (422: request.url")
        );
    }

    #[test]
    fn a_job_its_agent_ended_early_is_a_failure_even_when_recorded_as_finished() {
        let lease = "lease expired: no controller renewed it in time (a controller outage; the agent was healthy)";
        let text = info(&[("finished", lease)]);
        assert!(
            text.starts_with("The agent stopped the job because the controller stopped reaching it (lease expired"),
            "{text}"
        );
        let text = info(&[("finished", "its agent ended it: agent shutting down")]);
        assert!(text.starts_with("The agent ended the job before its time (agent shutting down)"), "{text}");
    }

    #[test]
    fn jobs_that_ended_normally_give_no_info() {
        assert_eq!(info(&[("finished", "duration reached"), ("running", "")]), "");
    }

    #[test]
    fn the_same_failure_on_several_agents_is_said_once() {
        let raw = "data file: data file has no rows";
        let text = info(&[("failed", raw), ("failed", raw), ("starting", "agent unreachable: refused")]);
        assert_eq!(text.matches("The data file could not be read").count(), 1, "{text}");
        assert!(text.contains(" | The agent could not be reached"), "{text}");
    }
}
