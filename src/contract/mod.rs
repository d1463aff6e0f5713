//! The response contract, apart from HTTP: the DTOs of the published page (`dto`), how
//! they are written as JSON (serde, in `dto`) and as DataContract XML (`xml`), and the
//! formats a response can take. The API serves them; replay and the digest write them too.

pub mod dto;
pub mod xml;

use self::dto::GetActiveSessionsResponse;

/// A response format the API can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json; charset=utf-8`.
    Json,
    /// `application/xml` (DataContract XML).
    Xml,
}

impl Format {
    /// The `Content-Type` header value.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json; charset=utf-8",
            Self::Xml => "application/xml",
        }
    }

    /// A format by name (`json`, `xml`), ignoring anything after a `.`.
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.split('.').next().unwrap_or_default();
        if name.eq_ignore_ascii_case("json") {
            Some(Self::Json)
        } else if name.eq_ignore_ascii_case("xml") {
            Some(Self::Xml)
        } else {
            None
        }
    }
}

/// The response body in `format`.
pub fn render(format: Format, response: &GetActiveSessionsResponse) -> Vec<u8> {
    match format {
        // Serializing plain structs of strings, bools and maps with string keys cannot fail.
        Format::Json => serde_json::to_vec(response).unwrap_or_default(),
        Format::Xml => xml::get_active_sessions_response(response),
    }
}
