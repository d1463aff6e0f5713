//! "Add ServiceStack Reference": `/types` (links), `/types/metadata` (the `MetadataTypes`
//! JSON) and `/types/typescript`, `/types/python`, `/types/csharp` (the DTOs as source,
//! `text/plain; charset=utf-8`, the header on the first line). Like a stock ServiceStack
//! host they need no token: they describe the contract, not anyone's sessions.

use std::sync::Arc;

use axum::Router;
use axum::extract::RawQuery;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use time::OffsetDateTime;
use time::macros::format_description;

use super::AppState;
use crate::contract::native::{
    NativeOptions, csharp::csharp, metadata::metadata_types, python::python, typescript::typescript,
};

/// A language's generator.
type Generator = fn(&NativeOptions) -> String;

/// The languages served, by route segment, with their generators.
const LANGUAGES: [(&str, &str, Generator); 3] = [
    ("typescript", "TypeScript", typescript),
    ("python", "Python", python),
    ("csharp", "CSharp", csharp),
];

/// The native-types routes.
pub fn routes() -> Router<Arc<AppState>> {
    let mut router = Router::new()
        .route("/types", get(index))
        .route("/types/metadata", get(metadata));
    for (segment, _, generate) in LANGUAGES {
        router = router.route(
            &format!("/types/{segment}"),
            get(move |headers: HeaderMap, RawQuery(query): RawQuery| {
                std::future::ready(source(generate(&options(&headers, query.as_deref()))))
            }),
        );
    }
    router
}

/// The host's own base URL: `http://{Host}` (https behind a proxy that says
/// `X-Forwarded-Proto: https`), no trailing slash.
pub fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    format!("{}://{host}", if https { "https" } else { "http" })
}

/// The generators' options for a request: its base URL, now (UTC), its query.
fn options(headers: &HeaderMap, query: Option<&str>) -> NativeOptions {
    let now = OffsetDateTime::now_utc()
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]"
        ))
        .unwrap_or_default();
    NativeOptions::new(&base_url(headers), &now, query)
}

/// Source text, as ServiceStack sends it.
fn source(text: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

/// `/types`: where each language's DTOs are.
async fn index(headers: HeaderMap) -> Response {
    let base = base_url(&headers);
    let mut links = serde_json::Map::new();
    links.insert("Metadata".into(), format!("{base}/types/metadata").into());
    for (segment, name, _) in LANGUAGES {
        links.insert(name.into(), format!("{base}/types/{segment}").into());
    }
    json(&serde_json::Value::Object(links))
}

/// `/types/metadata`.
async fn metadata(headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    json(&metadata_types(&options(&headers, query.as_deref())))
}

fn json(value: &serde_json::Value) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        )],
        serde_json::to_vec(value).unwrap_or_default(),
    )
        .into_response()
}
