//! The live run page `/ui/runs/{id}` (#12) in a real headless Chromium: a user
//! signs in on `/login`, lands on the page of a running run, sees its chart
//! fill with the rate the target really receives, drags the load slider, and
//! the target's rate follows; the change log names them; Stop stops the run.

use crate::browser::Browser;
use crate::helpers::spawn_app;
use crate::runs::{Agent, Target};
use serde_json::{Value, json};

/// The tooltips of the "Target vs achieved" chart's lines, as `{label: value}`.
const RATE_LINES: &str = "Object.fromEntries([...[...document.querySelectorAll('#live svg')]
    .find(s => s.querySelector('title').textContent === 'Target vs achieved')
    .querySelectorAll('path > title')].map(t => t.textContent.split(': ')).map(([k, v]) => [k, Number(v)]))";

fn rate(lines: &Value, label: &str) -> f64 {
    lines[label].as_f64().unwrap_or_else(|| panic!("no {label} line in {lines}"))
}

#[tokio::test]
async fn in_chromium_the_live_page_charts_the_run_and_its_slider_moves_the_load_at_the_target() {
    let app = spawn_app().await;
    let agent = Agent::start().await;
    app.register_agent(&agent, "v").await;
    let target = Target::start().await;
    let project = app.create_project("browser").await;
    let scenario = app.create_scenario(project, "live in a browser").await;
    app.load_script(scenario, "browse", &target, "/browse", 20, "v").await;
    let run = app.start_run(scenario, 100).await["run_id"].as_i64().unwrap();
    target.wait_rates(&["/browse"], &[20.0], "the run before the page opens").await;
    let user = json!({"name": "carol", "password": "correct horse battery", "role": "tester"});
    app.ok("/v1/auth/user/create", user).await;

    // Sign in as a user does: the form, then back to the run's page.
    let mut browser = Browser::start().await;
    browser.goto(&format!("{}/login?next=/ui/runs/{run}", app.address)).await;
    browser.wait_for(15, "the sign-in form", "document.querySelector('input[name=name]')").await;
    browser.eval("document.querySelector('input[name=name]').focus()").await;
    browser.type_text("carol").await;
    browser.eval("document.querySelector('input[name=password]').focus()").await;
    browser.type_text("correct horse battery").await;
    browser.click("button[type=submit]").await;
    let landed = format!("location.pathname === '/ui/runs/{run}' && document.querySelector('#live svg') !== null");
    browser.wait_for(20, "the run's page with its charts, signed in", &landed).await;

    // The chart fills with what the target receives: target 20, achieved near it.
    let filled = format!(
        "(() => {{ const l = {RATE_LINES}; return l.target === 20 && l.achieved >= 15 && l.achieved <= 25 ? l : null; }})()"
    );
    let lines = browser.wait_for(30, "the rate chart at 20 rps", &filled).await;
    assert!((15.0..=25.0).contains(&rate(&lines, "achieved")), "{lines}");
    let row = browser.eval("document.querySelector('#scripts').innerText").await;
    assert!(row.as_str().unwrap().contains("browse\t20.0"), "the scripts table: {row}");
    assert_eq!(browser.eval("document.querySelector('#cur-level').textContent").await, "100");

    // Drag the slider's thumb from 100 % towards 50 % (range 0..300) and let go.
    let geometry = browser
        .eval("(() => { const r = document.querySelector('#level').getBoundingClientRect(); return [r.x, r.y + r.height / 2, r.width]; })()")
        .await;
    let (left, y, width) =
        (geometry[0].as_f64().unwrap(), geometry[1].as_f64().unwrap(), geometry[2].as_f64().unwrap());
    // Chromium's thumb is about 16 px wide; its centre travels over width - 16.
    let at = |pct: f64| left + 8.0 + (width - 16.0) * pct / 300.0;
    browser
        .command(
            "Input.dispatchMouseEvent",
            json!({"type": "mousePressed", "x": at(100.0), "y": y, "button": "left", "clickCount": 1}),
        )
        .await;
    for step in 1..=5 {
        let x = at(100.0 - 10.0 * f64::from(step));
        browser
            .command("Input.dispatchMouseEvent", json!({"type": "mouseMoved", "x": x, "y": y, "button": "left"}))
            .await;
    }
    browser
        .command(
            "Input.dispatchMouseEvent",
            json!({"type": "mouseReleased", "x": at(50.0), "y": y, "button": "left", "clickCount": 1}),
        )
        .await;
    let level: i64 = browser.eval("Number(document.querySelector('#level').value)").await.as_i64().unwrap();
    assert!((35..=65).contains(&level), "the slider moved to {level} %");

    // The run takes the level; the target's rate follows; the page shows both.
    let confirmed = format!("document.querySelector('#cur-level').textContent === '{level}'");
    browser.wait_for(15, "the page showing the new level", &confirmed).await;
    assert_eq!(app.run(run).await["percentage_of_target"], level, "the run's level");
    #[allow(clippy::cast_precision_loss)]
    let want = 20.0 * level as f64 / 100.0;
    target.wait_rates(&["/browse"], &[want], "the target after the slider moved").await;
    let followed = format!(
        "(() => {{ const l = {RATE_LINES}; return Math.abs(l.target - {want}) < 0.6 && Math.abs(l.achieved - {want}) <= {want} * 0.25 + 2 ? l : null; }})()"
    );
    browser.wait_for(30, "the chart following the slider", &followed).await;
    let log = browser.eval("document.querySelector('#live ol').innerText").await;
    assert!(
        log.as_str().unwrap().contains(&format!("carol: load 100 % → {level} %")),
        "the change log names who: {log}"
    );

    // Stop, with the mouse: the run ends and the target hears nothing more.
    browser.click("#stop").await;
    browser
        .wait_for(
            30,
            "the run stopped",
            "document.querySelector('#status').textContent === 'STATUS_STOPPED_UNSPECIFIED'",
        )
        .await;
    let before = target.count("/browse");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(target.count("/browse") - before <= 2, "no load after Stop");
}
