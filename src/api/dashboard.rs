//! The live dashboard: one page, its script and its style sheet, embedded in the binary.
//!
//! The page (`GET /`) takes a token from `#token=…` (or the `ss-tok` cookie, or a pasted
//! one), checks it against `GET /sessions/active`, then follows
//! `GET /sessions/active/stream` (Server-Sent Events) and shows the signed-in user's
//! active sessions as a live table. Plain HTML, CSS and JavaScript: no build step, nothing
//! loaded from anywhere but this service.

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The page.
pub const INDEX_HTML: &str = include_str!("dashboard/index.html");
/// The page's script.
pub const APP_JS: &str = include_str!("dashboard/app.js");
/// The page's style sheet.
pub const STYLE_CSS: &str = include_str!("dashboard/style.css");

/// Where the script is served.
pub const APP_JS_PATH: &str = "/dashboard/app.js";
/// Where the style sheet is served.
pub const STYLE_CSS_PATH: &str = "/dashboard/style.css";

/// The policy sent with every dashboard response: only this origin's script, style and
/// connections; `data:` images only for the generated favicon; no plugins, no framing,
/// no `<base>`, no form posts.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

/// The dashboard's routes, to merge into the API router (they read no state).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            APP_JS_PATH,
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            STYLE_CSS_PATH,
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
}

/// One embedded file with its type and the dashboard's headers. `no-cache` makes the
/// browser revalidate, so a new binary's page is picked up on the next load.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (
                HeaderName::from_static("x-frame-options"),
                HeaderValue::from_static("DENY"),
            ),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_its_own_files() {
        assert!(INDEX_HTML.contains(&format!("src=\"{APP_JS_PATH}\"")));
        assert!(INDEX_HTML.contains(&format!("href=\"{STYLE_CSS_PATH}\"")));
        // Nothing from another origin: no absolute URLs in attributes, styles or requests
        // (the SVG namespace name in app.js is an identifier, not a request).
        for file in [INDEX_HTML, APP_JS, STYLE_CSS] {
            for external in [
                "src=\"http",
                "href=\"http",
                "src=\"//",
                "href=\"//",
                "url(",
                "@import",
                "fetch('http",
                "EventSource('http",
                "https://",
            ] {
                assert!(!file.contains(external), "{external} in a dashboard file");
            }
        }
        assert!(!INDEX_HTML.contains("<script>"), "no inline script (CSP)");
        assert!(!INDEX_HTML.contains("style="), "no inline style (CSP)");
    }

    #[tokio::test]
    async fn each_file_is_served_with_its_type_and_the_policy() {
        use axum::body::Body;
        use axum::http::{Request, StatusCode};
        use tower::ServiceExt;

        for (path, content_type, body) in [
            ("/", "text/html; charset=utf-8", INDEX_HTML),
            (APP_JS_PATH, "text/javascript; charset=utf-8", APP_JS),
            (STYLE_CSS_PATH, "text/css; charset=utf-8", STYLE_CSS),
        ] {
            let request = Request::get(path).body(Body::empty()).unwrap();
            let response = routes::<()>().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let headers = response.headers();
            assert_eq!(headers[header::CONTENT_TYPE], content_type, "{path}");
            assert_eq!(headers[header::CACHE_CONTROL], "no-cache", "{path}");
            assert_eq!(
                headers[header::CONTENT_SECURITY_POLICY],
                CONTENT_SECURITY_POLICY,
                "{path}"
            );
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            assert_eq!(bytes, body.as_bytes(), "{path}");
        }
        assert!(CONTENT_SECURITY_POLICY.starts_with("default-src 'self';"));
    }

    #[test]
    fn the_script_never_writes_html_from_data() {
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
        ] {
            assert!(!APP_JS.contains(sink), "{sink} in app.js");
        }
    }
}
