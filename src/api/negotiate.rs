//! Response format negotiation, ServiceStack's way (wire-contract.md): `?format=`, then the
//! route, then `Accept` matched against the server's own order (JSON, then XML), then JSON.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

pub use crate::contract::Format;

/// A 200 response with `body` in `format`, with `Content-Type` and `Vary: Accept`.
pub fn respond(format: Format, body: Vec<u8>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            ),
            (header::VARY, HeaderValue::from_static("Accept")),
        ],
        body,
    )
        .into_response()
}

/// Picks the response format; the first rule that matches wins.
///
/// `query` is the raw query string, `route` the format the route itself names (an `.xml`
/// extension or an `/xml/reply/` route), `accept` the `Accept` header.
pub fn negotiate(query: Option<&str>, route: Option<Format>, accept: Option<&str>) -> Format {
    query
        .and_then(format_param)
        .or(route)
        .or_else(|| accept.and_then(from_accept))
        .unwrap_or(Format::Json)
}

fn format_param(query: &str) -> Option<Format> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| k.eq_ignore_ascii_case("format"))
        .and_then(|(_, v)| Format::from_name(v))
}

/// The server's order wins over the client's: JSON if any listed type is JSON, else XML if
/// any is XML; q-values are ignored.
fn from_accept(accept: &str) -> Option<Format> {
    let types: Vec<String> = accept
        .split(',')
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .collect();
    let any = |prefixes: &[&str]| {
        types
            .iter()
            .any(|t| prefixes.iter().any(|p| t.starts_with(p)))
    };
    if any(&["application/json", "text/json"]) {
        Some(Format::Json)
    } else if any(&["application/xml", "text/xml"]) {
        Some(Format::Xml)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_ignore_what_follows_a_dot() {
        assert_eq!(Format::from_name("xml.aspx"), Some(Format::Xml));
        assert_eq!(Format::from_name("JSON"), Some(Format::Json));
        assert_eq!(Format::from_name("csv"), None);
    }

    #[test]
    fn accept_is_matched_in_the_servers_order() {
        assert_eq!(
            from_accept("application/xml, application/json"),
            Some(Format::Json)
        );
        assert_eq!(from_accept("application/xml;q=0.1"), Some(Format::Xml));
        assert_eq!(from_accept("text/html, */*"), None);
        assert_eq!(
            negotiate(Some("a=1&format=xml"), Some(Format::Json), None),
            Format::Xml
        );
    }
}
