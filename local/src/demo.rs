//! `alilo-local --demo`: a tiny target server served here, a demo project whose
//! scenario's simple scripts load it (tagged `local`, so the local agent runs
//! them), and a run of that scenario — a real run with real numbers in seconds.

use alilo_shared::AppState;
use alilo_shared::service::{projects, runs, scenarios, simple_scripts};
use alilo_shared::wire::projects::{Project, ProjectRequest};
use alilo_shared::wire::runs::RunScenarioRequest;
use alilo_shared::wire::scenarios::{Scenario, ScenarioRequest};
use alilo_shared::wire::scripts::{SimpleScript, SimpleScriptRequest};
use tokio::net::TcpListener;

/// The demo's target: answers every path with a small JSON body.
pub struct Demo {
    listener: TcpListener,
}

impl Demo {
    pub async fn bind() -> anyhow::Result<Self> {
        Ok(Self { listener: TcpListener::bind("127.0.0.1:0").await? })
    }

    /// Serve the target, create the demo project and start its run; the run id.
    pub async fn start(self, app: &AppState, _api_port: u16) -> anyhow::Result<i32> {
        let target = self.listener.local_addr()?;
        let router = axum::Router::new()
            .fallback(|| async { ([("content-type", "application/json")], "{\"ok\":true,\"items\":[1,2,3]}") });
        tokio::spawn(async move {
            let _ = axum::serve(self.listener, router).await;
        });
        let project = projects::create(
            app,
            ProjectRequest { project: Some(Project { title: "Demo".into(), ..Project::default() }) },
        )
        .await?
        .id;
        let scenario = scenarios::create(
            app,
            ScenarioRequest {
                scenario: Some(Scenario { project_id: project, title: "Demo shop".into(), ..Scenario::default() }),
            },
        )
        .await?
        .scenario_id;
        // Names follow the original UI's rule (`^[a-zA-Z0-9_]+$`); titles are what its table shows.
        let scripts = [
            ("home", "Home page", "/", "20"),
            ("search", "Search", "/search", "10"),
            ("item", "Item page", "/items/42", "5"),
        ];
        for (name, title, path, rps) in scripts {
            simple_scripts::create(
                app,
                SimpleScriptRequest {
                    simple_script: Some(SimpleScript {
                        scenario_id: scenario,
                        name: name.into(),
                        title: title.into(),
                        enabled: true,
                        tag: crate::local_agent::TAG.into(),
                        path: format!("{target}{path}"),
                        scheme: "http".into(),
                        http_method: "get".into(),
                        rps: rps.into(),
                        steps: "1".into(),
                        duration: "10m".into(),
                        max_v_us: "50".into(),
                        ..SimpleScript::default()
                    }),
                },
            )
            .await?;
        }
        let demo = alilo_shared::auth::Principal { name: "demo".into(), ..alilo_shared::auth::Principal::no_auth() };
        let run = runs::start(
            app,
            &demo,
            RunScenarioRequest {
                scenario_id: scenario,
                percentage_of_target: Some(100),
                user_name: "demo".into(),
                preferred_user_name: "Demo".into(),
            },
        )
        .await?;
        Ok(run.run.map_or(0, |r| r.run_id))
    }
}
