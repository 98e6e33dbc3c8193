//! The parsing function: ParsingService's v1 routes (cURL import).

use alilo_shared::AppState;
use utoipa_axum::router::OpenApiRouter;

/// Every route this function serves.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
