//! Cross-origin reads. By default there are none: no CORS header is ever sent, so a page on
//! another site cannot read a user's sessions even though the browser sends the `ss-tok`
//! cookie (and there is no JSONP). A dashboard served from another origin is let in by
//! naming its origin (`--cors-origin`), with credentials, for reads only.

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Why an allowed origin is refused.
#[derive(Debug, thiserror::Error)]
pub enum CorsError {
    /// Not `scheme://host[:port]`.
    #[error("--cors-origin {0:?} is not an origin such as https://dashboard.example.com")]
    NotAnOrigin(String),
}

/// Checks an allowed origin: `http(s)://host[:port]`, no path, not `*` (a wildcard would
/// let any site read with the user's cookie).
pub fn parse_origin(origin: &str) -> Result<HeaderValue, CorsError> {
    let bad = || CorsError::NotAnOrigin(origin.to_owned());
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(bad)?;
    if rest.is_empty() || rest.contains(['/', '*', '?', '#', ' ', '@']) {
        return Err(bad());
    }
    HeaderValue::from_str(origin).map_err(|_| bad())
}

/// The layer that answers the allowed origins' preflights and reads; `None` when no
/// origin is allowed (then nothing cross-origin is answered).
pub fn layer(origins: &[HeaderValue]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.iter().cloned()))
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::AUTHORIZATION,
                header::ACCEPT,
                header::CONTENT_TYPE,
                HeaderName::from_static("last-event-id"),
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

#[cfg(test)]
mod tests {
    use super::parse_origin;

    #[test]
    fn only_exact_origins_are_allowed() {
        assert!(parse_origin("https://dash.example.com").is_ok());
        assert!(parse_origin("http://localhost:3000").is_ok());
        for bad in [
            "*",
            "https://*.example.com",
            "dash.example.com",
            "https://dash.example.com/app",
            "https://",
            "ftp://x",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }
}
