//! The API's data transfer objects, exactly as the published metadata page declares them.
//!
//! JSON comes from serde (camelCase, nulls omitted, enums by name); the DataContract XML
//! writer in `contract::xml` walks the same structs with an explicit member list per DTO.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_with::skip_serializing_none;

use crate::model::{
    FlowChannels, SessionCallState, SessionDialState, SessionDirections, SessionHoldReasons,
    SessionMemberCallState, SessionMemberRoles, SessionQueueStates,
};
use crate::projection::{Member, Session};

/// `GetActiveSessionsResponse` (also the response of `GetMySessions`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetActiveSessionsResponse {
    /// The caller's active sessions, by `dateCreated` then `id`.
    pub sessions: Vec<SessionInfo>,
}

/// `SessionInfo`, with the `EntityInfo` base members first.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    /// EntityInfo `id`.
    pub id: Option<String>,
    /// EntityInfo `dateCreated`.
    pub date_created: Option<String>,
    /// EntityInfo `dateLastModified`.
    pub date_last_modified: Option<String>,
    /// EntityInfo `createdBy`.
    pub created_by: Option<String>,
    /// EntityInfo `lastModifiedBy`.
    pub last_modified_by: Option<String>,
    /// `dialState`.
    pub dial_state: SessionDialState,
    /// `callState`.
    pub call_state: SessionCallState,
    /// `queueState`.
    pub queue_state: SessionQueueStates,
    /// `accountId`.
    pub account_id: Option<String>,
    /// `accountName`.
    pub account_name: Option<String>,
    /// `customerId`.
    pub customer_id: Option<String>,
    /// `customerBreadcrumb`.
    pub customer_breadcrumb: Vec<CustomerBreadcrumb>,
    /// `customerName`.
    pub customer_name: Option<String>,
    /// `endpointId`.
    pub endpoint_id: Option<String>,
    /// `endpointName`.
    pub endpoint_name: Option<String>,
    /// `dateCompleted`.
    pub date_completed: Option<String>,
    /// `destination`.
    pub destination: Option<String>,
    /// `toAddress`.
    pub to_address: Option<String>,
    /// `fromAddress`.
    pub from_address: Option<String>,
    /// `fromName`.
    pub from_name: Option<String>,
    /// `answeredByName`.
    pub answered_by_name: Option<String>,
    /// `queueMemberId`.
    pub queue_member_id: Option<String>,
    /// `channel`.
    pub channel: FlowChannels,
    /// `ended`.
    pub ended: bool,
    /// `outcome`.
    pub outcome: Option<String>,
    /// `callSid`.
    pub call_sid: Option<String>,
    /// `consoleData`.
    pub console_data: Option<String>,
    /// `holdQueueName`.
    pub hold_queue_name: Option<String>,
    /// `heldByUserId`.
    pub held_by_user_id: Option<String>,
    /// `holdReason`.
    pub hold_reason: SessionHoldReasons,
    /// `conferenceSid`.
    pub conference_sid: Option<String>,
    /// `displayName`.
    pub display_name: Option<String>,
    /// `log`.
    pub log: Vec<SessionLogInfo>,
    /// `members`.
    pub members: Vec<SessionMemberInfo>,
    /// `callbackNumber`.
    pub callback_number: Option<String>,
    /// `answeredById`.
    pub answered_by_id: Option<String>,
    /// `direction`.
    pub direction: SessionDirections,
    /// `fromPhoneNumber`.
    pub from_phone_number: Option<String>,
    /// `mostRecentParticipantCallSid`.
    pub most_recent_participant_call_sid: Option<String>,
    /// `wasMissed`.
    pub was_missed: bool,
    /// `ringQueueId`.
    pub ring_queue_id: Option<String>,
}

/// `CustomerBreadcrumb` (namespace `Voice.Api.Customers` in XML).
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerBreadcrumb {
    /// `id`.
    pub id: Option<String>,
    /// `name`.
    pub name: Option<String>,
}

/// `SessionLogInfo`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionLogInfo {
    /// `date`.
    pub date: Option<String>,
    /// `message`.
    pub message: Option<String>,
}

/// `SessionMemberInfo`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionMemberInfo {
    /// `identity`.
    pub identity: Option<String>,
    /// `endpointId`.
    pub endpoint_id: Option<String>,
    /// `displayName`.
    pub display_name: Option<String>,
    /// `isOriginalMember`.
    pub is_original_member: bool,
    /// `avatarUrl`.
    pub avatar_url: Option<String>,
    /// `applicationData`.
    pub application_data: Option<BTreeMap<String, String>>,
    /// `callState`.
    pub call_state: SessionMemberCallState,
    /// `role`.
    pub role: SessionMemberRoles,
    /// `callSid`.
    pub call_sid: Option<String>,
    /// `muted`.
    pub muted: bool,
}

/// ServiceStack's `ResponseStatus`, the body of every error.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseStatus {
    /// A machine-readable code (`Unauthorized`, `Forbidden`, ...).
    pub error_code: String,
    /// A message for people.
    pub message: String,
    /// Field errors (always empty here).
    pub errors: Vec<serde_json::Value>,
}

/// ServiceStack's `ErrorResponse`: `{ responseStatus }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    /// The error.
    pub response_status: ResponseStatus,
}

impl From<&Session> for SessionInfo {
    fn from(s: &Session) -> Self {
        Self {
            id: Some(s.id.to_string()),
            date_created: Some(s.created_at.to_api_string()),
            date_last_modified: Some(s.last_modified_at.to_api_string()),
            created_by: s.created_by.clone(),
            last_modified_by: s.last_modified_by.clone(),
            dial_state: s.dial_state,
            call_state: s.call_state,
            queue_state: s.queue_state,
            account_id: s.account_id.clone(),
            account_name: s.account_name.clone(),
            customer_id: s.customer_id.clone(),
            customer_breadcrumb: s
                .customer_breadcrumb
                .iter()
                .map(|c| CustomerBreadcrumb {
                    id: c.id.clone(),
                    name: c.name.clone(),
                })
                .collect(),
            customer_name: s.customer_name.clone(),
            endpoint_id: s.endpoint_id.clone(),
            endpoint_name: s.endpoint_name.clone(),
            // Only active sessions are in the projection.
            date_completed: None,
            destination: s.destination.clone(),
            to_address: s.to_address.clone(),
            from_address: s.from_address.clone(),
            from_name: s.from_name.clone(),
            answered_by_name: s.answered_by_name.clone(),
            queue_member_id: s.queue_member_id.clone(),
            channel: s.channel,
            ended: false,
            outcome: s.outcome.clone(),
            call_sid: s.call_sid.clone(),
            console_data: s.console_data.clone(),
            hold_queue_name: s.hold_queue_name.clone(),
            held_by_user_id: s.held_by_user_id.clone(),
            hold_reason: s.hold_reason,
            conference_sid: s.conference_sid.clone(),
            display_name: s.display_name.clone(),
            log: s
                .log
                .iter()
                .map(|e| SessionLogInfo {
                    date: Some(e.date.to_api_string()),
                    message: e.message.clone(),
                })
                .collect(),
            members: s.members.iter().map(SessionMemberInfo::from).collect(),
            callback_number: s.callback_number.clone(),
            answered_by_id: s.answered_by_id.clone(),
            direction: s.direction,
            from_phone_number: s.from_phone_number.clone(),
            most_recent_participant_call_sid: s.most_recent_participant_call_sid.clone(),
            was_missed: s.was_missed,
            ring_queue_id: s.ring_queue_id.clone(),
        }
    }
}

impl From<&Member> for SessionMemberInfo {
    fn from(m: &Member) -> Self {
        Self {
            identity: Some(m.identity.clone()),
            endpoint_id: m.endpoint_id.clone(),
            display_name: m.display_name.clone(),
            is_original_member: m.is_original_member,
            avatar_url: m.avatar_url.clone(),
            application_data: Some(m.application_data.clone()),
            call_state: m.call_state,
            role: m.role,
            call_sid: m.call_sid.clone(),
            muted: m.muted,
        }
    }
}
