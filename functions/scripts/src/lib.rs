//! The scripts function: ScriptService's v1 routes, extended and simple scripts.

use alilo_shared::AppState;
use alilo_shared::service::{scripts as ext, simple_scripts as simple};
use alilo_shared::v1_route;
use alilo_shared::wire::StdResponse;
use alilo_shared::wire::scenarios::ScenarioIdRequest;
use alilo_shared::wire::scripts::*;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every route this function serves.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get))
        .routes(routes!(create))
        .routes(routes!(update))
        .routes(routes!(delete))
        .routes(routes!(move_script))
        .routes(routes!(copy))
        .routes(routes!(get_simple))
        .routes(routes!(create_simple))
        .routes(routes!(update_simple))
        .routes(routes!(delete_simple))
        .routes(routes!(move_simple))
        .routes(routes!(copy_simple))
}

v1_route!(
    /// Both kinds of scripts of a scenario, each ordered by name.
    list, "/v1/scripts", "ScriptService", ScenarioIdRequest => GetAllScriptsResponse, ext::list);
v1_route!(
    /// One extended script.
    get, "/v1/script", "ScriptService", ScriptIdRequest => GetScriptResponse, ext::get);
v1_route!(
    /// Create an extended (k6 JavaScript) script. A `script_file` in our bucket is compiled with the agent's
    /// engine with every file it imports: a syntax error or an unsupported import answers 422 with
    /// `file:line:column` and the engine's message.
    create, "/v1/script/create", "ScriptService", ScriptRequest => CreateScriptResponse, ext::create);
v1_route!(
    /// Overwrite extended script `script.script_id` (checked as at create).
    update, "/v1/script/update", "ScriptService", ScriptRequest => StdResponse, ext::update);
v1_route!(
    /// Delete an extended script.
    delete, "/v1/script/delete", "ScriptService", ScriptIdRequest => StdResponse, ext::delete);
v1_route!(
    /// Move an extended script to another scenario.
    move_script, "/v1/script/move", "ScriptService", MoveScriptRequest => StdResponse, ext::move_to);
v1_route!(
    /// Copy an extended script into a scenario as `Copied_<name>`.
    copy, "/v1/script/copy", "ScriptService", CopyScriptRequest => StdResponse, ext::copy);
v1_route!(
    /// One simple script.
    get_simple, "/v1/simple-script", "ScriptService", SimpleScriptIdRequest => GetSimpleScriptResponse, simple::get);
v1_route!(
    /// Create a simple script.
    create_simple, "/v1/simple-script/create", "ScriptService", SimpleScriptRequest => CreateSimpleScriptResponse, simple::create);
v1_route!(
    /// Overwrite simple script `simple_script.script_id` (the UI sends `simpleScript`).
    update_simple, "/v1/simple-script/update", "ScriptService", SimpleScriptRequest => StdResponse, simple::update);
v1_route!(
    /// Delete a simple script.
    delete_simple, "/v1/simple-script/delete", "ScriptService", SimpleScriptIdRequest => StdResponse, simple::delete);
v1_route!(
    /// Move a simple script to another scenario.
    move_simple, "/v1/simple-script/move", "ScriptService", MoveSimpleScriptRequest => StdResponse, simple::move_to);
v1_route!(
    /// Copy a simple script into a scenario as `Copied_<name>`; answers the new id.
    copy_simple, "/v1/simple-script/copy", "ScriptService", CopySimpleScriptRequest => CreateSimpleScriptResponse, simple::copy);
