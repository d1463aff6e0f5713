//! The response contract, apart from HTTP: one description of it (`schema`: the types,
//! members, descriptions and operations of the published page), the DTOs (`dto`), and
//! every form it is written in: JSON (serde, in `dto`), DataContract XML (`xml`), JSV
//! (`jsv`), CSV (`csv`), HTML (`html`), and the native types and metadata that
//! ServiceStack's "Add ServiceStack Reference" tools read (`native`). The API serves them;
//! replay and the digest write them too.

pub mod assemble;
pub mod csv;
pub mod dto;
pub mod html;
pub mod jsv;
pub mod native;
pub mod schema;
pub mod xml;

use self::dto::{ErrorResponse, GetActiveSessionsResponse};

/// A response format the API can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json; charset=utf-8`.
    Json,
    /// `application/xml` (DataContract XML).
    Xml,
    /// `application/jsv` (ServiceStack.Text's JSV).
    Jsv,
    /// `text/csv`.
    Csv,
    /// `text/html`, for browsers.
    Html,
}

impl Format {
    /// Every format, in the order the metadata pages list them.
    pub const ALL: [Self; 5] = [Self::Json, Self::Xml, Self::Jsv, Self::Csv, Self::Html];

    /// The `Content-Type` header value (ServiceStack adds a charset to JSON only).
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json; charset=utf-8",
            Self::Xml => "application/xml",
            Self::Jsv => "application/jsv",
            Self::Csv => "text/csv",
            Self::Html => "text/html",
        }
    }

    /// The format's name, as in `?format=` and route extensions.
    pub fn name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Xml => "xml",
            Self::Jsv => "jsv",
            Self::Csv => "csv",
            Self::Html => "html",
        }
    }

    /// A format by name (`json`, `xml`, `jsv`, `csv`, `html`, any case), ignoring anything
    /// after a `.`.
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.split('.').next().unwrap_or_default();
        Self::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }
}

/// The response body in `format`.
pub fn render(format: Format, response: &GetActiveSessionsResponse) -> Vec<u8> {
    render_operation(format, "GetActiveSessions", response)
}

/// The response body of `operation` (whose response is a `GetActiveSessionsResponse`) in
/// `format`.
pub fn render_operation(
    format: Format,
    operation: &str,
    response: &GetActiveSessionsResponse,
) -> Vec<u8> {
    let ty = "GetActiveSessionsResponse";
    match format {
        // Serializing plain structs of strings, bools and maps with string keys cannot fail.
        Format::Json => serde_json::to_vec(response).unwrap_or_default(),
        Format::Xml => xml::get_active_sessions_response(response),
        Format::Jsv => jsv::to_jsv(ty, response).into_bytes(),
        Format::Csv => csv::to_csv(ty, response).into_bytes(),
        Format::Html => html::to_html(operation, ty, response).into_bytes(),
    }
}

/// ServiceStack's error body in `format`.
pub fn render_error(format: Format, error: &ErrorResponse) -> Vec<u8> {
    let ty = "ErrorResponse";
    match format {
        Format::Json => serde_json::to_vec(error).unwrap_or_default(),
        Format::Xml => xml::error_response(error),
        Format::Jsv => jsv::to_jsv(ty, error).into_bytes(),
        Format::Csv => csv::to_csv(ty, error).into_bytes(),
        Format::Html => html::to_html("ErrorResponse", ty, error).into_bytes(),
    }
}

/// The sample response the metadata pages show: every string `String`, every enum its first
/// member, every list and dictionary one item (as ServiceStack's `PopulateWith` fills a DTO).
pub fn sample_response() -> GetActiveSessionsResponse {
    use self::dto::{CustomerBreadcrumb, SessionInfo, SessionLogInfo, SessionMemberInfo};
    use crate::model::{
        FlowChannels, SessionCallState, SessionDialState, SessionDirections, SessionHoldReasons,
        SessionMemberCallState, SessionMemberRoles, SessionQueueStates,
    };
    let s = || Some("String".to_owned());
    let member = SessionMemberInfo {
        identity: s(),
        endpoint_id: s(),
        display_name: s(),
        is_original_member: false,
        avatar_url: s(),
        application_data: Some([("String".to_owned(), "String".to_owned())].into()),
        call_state: SessionMemberCallState::None,
        role: SessionMemberRoles::None,
        call_sid: s(),
        muted: false,
    };
    let session = SessionInfo {
        id: s(),
        date_created: s(),
        date_last_modified: s(),
        created_by: s(),
        last_modified_by: s(),
        dial_state: SessionDialState::None,
        call_state: SessionCallState::Disconnected,
        queue_state: SessionQueueStates::None,
        account_id: s(),
        account_name: s(),
        customer_id: s(),
        customer_breadcrumb: vec![CustomerBreadcrumb { id: s(), name: s() }],
        customer_name: s(),
        endpoint_id: s(),
        endpoint_name: s(),
        date_completed: s(),
        destination: s(),
        to_address: s(),
        from_address: s(),
        from_name: s(),
        answered_by_name: s(),
        queue_member_id: s(),
        channel: FlowChannels::Voice,
        ended: false,
        outcome: s(),
        call_sid: s(),
        console_data: s(),
        hold_queue_name: s(),
        held_by_user_id: s(),
        hold_reason: SessionHoldReasons::None,
        conference_sid: s(),
        display_name: s(),
        log: vec![SessionLogInfo {
            date: s(),
            message: s(),
        }],
        members: vec![member],
        callback_number: s(),
        answered_by_id: s(),
        direction: SessionDirections::Incoming,
        from_phone_number: s(),
        most_recent_participant_call_sid: s(),
        was_missed: false,
        ring_queue_id: s(),
    };
    GetActiveSessionsResponse {
        sessions: vec![session],
    }
}
