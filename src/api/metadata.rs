//! Metadata pages (placeholder, filled in below).

use axum::Router;

use super::AppState;

/// The metadata pages' routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
