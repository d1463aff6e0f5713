//! Response format negotiation, as ServiceStack does it on ASP.NET Core (issue 13's
//! decisions, from ServiceStack's own source):
//!
//! 1. a REST route's extension (`/sessions/active.xml`) wins over everything;
//! 2. `?format=json|xml|jsv|csv|html` (anything after a `.` ignored);
//! 3. a predefined route (`/xml/reply/…`);
//! 4. `Accept`, not split on commas: each header line is cut at its first `;` and matched
//!    by prefix against the server's order (HTML, JSON, XML, JSV, CSV), so the first media
//!    type listed decides (`application/xml, application/json` is XML) and `text/xml`
//!    matches nothing;
//! 5. otherwise JSON (no Accept, `*/*`, or nothing matched): this host's choice, where a
//!    stock host would send HTML.
//!
//! `?callback=` (JSONP) is refused, never honoured: with cookie auth any site could read a
//! user's sessions through a script tag.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

pub use crate::contract::Format;

/// What the route itself says about the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteFormat {
    /// Nothing (`/sessions/active`, `/api/GetActiveSessions`).
    None,
    /// A REST route's extension (`/sessions/active.xml`): beats `?format`.
    Extension(Format),
    /// A predefined route (`/xml/reply/GetActiveSessions`): `?format` overrides it.
    Predefined(Format),
}

/// The server's order of preferred media types, matched by prefix against `Accept`.
const PREFERRED: [(&str, Format); 6] = [
    ("text/html", Format::Html),
    ("application/json", Format::Json),
    ("application/xml", Format::Xml),
    ("application/jsv", Format::Jsv),
    ("text/jsv", Format::Jsv),
    ("text/csv", Format::Csv),
];

/// A 200 response of `operation` with `body` in `format`: `Content-Type` (`text/jsv` on
/// the predefined `/jsv/` routes), `Vary: Accept`, and for CSV the
/// `Content-Disposition` naming `{operation}.csv`.
pub fn respond(format: Format, route: RouteFormat, operation: &str, body: Vec<u8>) -> Response {
    let content_type = match (format, route) {
        (Format::Jsv, RouteFormat::Predefined(Format::Jsv)) => "text/jsv",
        _ => format.content_type(),
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::VARY, HeaderValue::from_static("Accept")),
        ],
        body,
    )
        .into_response();
    if format == Format::Csv
        && let Ok(value) =
            HeaderValue::from_str(&format!("attachment;filename=\"{operation}.csv\""))
    {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// Picks the response format from the raw query string, the route and the `Accept`
/// header lines.
pub fn negotiate(query: Option<&str>, route: RouteFormat, accept: &[&str]) -> Format {
    match route {
        RouteFormat::Extension(f) => f,
        RouteFormat::Predefined(f) => query.and_then(format_param).unwrap_or(f),
        RouteFormat::None => query
            .and_then(format_param)
            .or_else(|| from_accept(accept))
            .unwrap_or(Format::Json),
    }
}

/// [`negotiate`] over a request's headers.
pub fn negotiate_request(query: Option<&str>, route: RouteFormat, headers: &HeaderMap) -> Format {
    let accept: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    negotiate(query, route, &accept)
}

/// A query parameter's decoded value, the last one given.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.into_owned())
        .last()
}

/// Whether the request asks for JSONP (`?callback=` with a value).
pub fn wants_jsonp(query: Option<&str>) -> bool {
    query
        .and_then(|q| query_param(q, "callback"))
        .is_some_and(|v| !v.is_empty())
}

fn format_param(query: &str) -> Option<Format> {
    query_param(query, "format").and_then(|v| Format::from_name(&v))
}

/// The first preferred type, in the server's order, that any header line starts with.
fn from_accept(lines: &[&str]) -> Option<Format> {
    let types: Vec<String> = lines
        .iter()
        .map(|line| {
            line.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .collect();
    PREFERRED
        .iter()
        .find(|(prefix, _)| types.iter().any(|t| t.starts_with(prefix)))
        .map(|(_, f)| *f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_ignore_what_follows_a_dot() {
        assert_eq!(Format::from_name("xml.aspx"), Some(Format::Xml));
        assert_eq!(Format::from_name("JSON"), Some(Format::Json));
        assert_eq!(Format::from_name("csv"), Some(Format::Csv));
        assert_eq!(Format::from_name("yaml"), None);
    }

    #[test]
    fn the_first_listed_type_decides() {
        assert_eq!(
            from_accept(&["application/xml, application/json"]),
            Some(Format::Xml)
        );
        assert_eq!(
            from_accept(&["application/json;q=0.1, application/xml;q=0.9"]),
            Some(Format::Json)
        );
        assert_eq!(from_accept(&["text/xml"]), None);
        assert_eq!(from_accept(&["*/*"]), None);
        assert_eq!(from_accept(&["text/html, */*"]), Some(Format::Html));
        // Two header lines: the server's order decides between them.
        assert_eq!(
            from_accept(&["application/xml", "application/json"]),
            Some(Format::Json)
        );
    }

    #[test]
    fn extension_beats_query_and_query_beats_predefined_route() {
        let json = RouteFormat::Extension(Format::Json);
        assert_eq!(negotiate(Some("format=xml"), json, &[]), Format::Json);
        let xml = RouteFormat::Predefined(Format::Xml);
        assert_eq!(negotiate(Some("a=1&format=jsv"), xml, &[]), Format::Jsv);
        assert_eq!(
            negotiate(Some("format=%63sv"), RouteFormat::None, &[]),
            Format::Csv
        );
    }

    #[test]
    fn jsonp_needs_a_callback_name() {
        assert!(wants_jsonp(Some("callback=cb")));
        assert!(!wants_jsonp(Some("callback=")));
        assert!(!wants_jsonp(None));
    }
}
