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
        // Every field named, so a new one cannot be left out unnoticed.
        let Session {
            id,
            created_at,
            created_by,
            last_modified_at,
            last_modified_by,
            account_id,
            account_name,
            dial_state,
            call_state,
            queue_state,
            customer_id,
            customer_name,
            customer_breadcrumb,
            endpoint_id,
            endpoint_name,
            channel,
            direction,
            destination,
            to_address,
            from_address,
            from_name,
            from_phone_number,
            callback_number,
            call_sid,
            display_name,
            console_data,
            outcome,
            answered_by_id,
            answered_by_name,
            queue_member_id,
            ring_queue_id,
            held_by_user_id,
            hold_queue_name,
            hold_reason,
            conference_sid,
            most_recent_participant_call_sid,
            was_missed,
            log,
            members,
            rendered: _,
        } = s;
        Self {
            id: Some(id.to_string()),
            date_created: Some(created_at.to_api_string()),
            date_last_modified: Some(last_modified_at.to_api_string()),
            created_by: created_by.clone(),
            last_modified_by: last_modified_by.clone(),
            dial_state: *dial_state,
            call_state: *call_state,
            queue_state: *queue_state,
            account_id: account_id.clone(),
            account_name: account_name.clone(),
            customer_id: customer_id.clone(),
            customer_breadcrumb: customer_breadcrumb
                .iter()
                .map(|c| CustomerBreadcrumb {
                    id: c.id.clone(),
                    name: c.name.clone(),
                })
                .collect(),
            customer_name: customer_name.clone(),
            endpoint_id: endpoint_id.clone(),
            endpoint_name: endpoint_name.clone(),
            // Only active sessions are in the projection.
            date_completed: None,
            destination: destination.clone(),
            to_address: to_address.clone(),
            from_address: from_address.clone(),
            from_name: from_name.clone(),
            answered_by_name: answered_by_name.clone(),
            queue_member_id: queue_member_id.clone(),
            channel: *channel,
            ended: false,
            outcome: outcome.clone(),
            call_sid: call_sid.clone(),
            console_data: console_data.clone(),
            hold_queue_name: hold_queue_name.clone(),
            held_by_user_id: held_by_user_id.clone(),
            hold_reason: *hold_reason,
            conference_sid: conference_sid.clone(),
            display_name: display_name.clone(),
            log: log
                .iter()
                .map(|e| SessionLogInfo {
                    date: Some(e.date.to_api_string()),
                    message: e.message.clone(),
                })
                .collect(),
            members: members.iter().map(SessionMemberInfo::from).collect(),
            callback_number: callback_number.clone(),
            answered_by_id: answered_by_id.clone(),
            direction: *direction,
            from_phone_number: from_phone_number.clone(),
            most_recent_participant_call_sid: most_recent_participant_call_sid.clone(),
            was_missed: *was_missed,
            ring_queue_id: ring_queue_id.clone(),
        }
    }
}

impl From<&Member> for SessionMemberInfo {
    fn from(m: &Member) -> Self {
        // Every field named, so a new one cannot be left out unnoticed.
        let Member {
            identity,
            endpoint_id,
            display_name,
            avatar_url,
            is_original_member,
            application_data,
            call_state,
            role,
            call_sid,
            muted,
        } = m;
        Self {
            identity: Some(identity.clone()),
            endpoint_id: endpoint_id.clone(),
            display_name: display_name.clone(),
            is_original_member: *is_original_member,
            avatar_url: avatar_url.clone(),
            application_data: Some(application_data.clone()),
            call_state: *call_state,
            role: *role,
            call_sid: call_sid.clone(),
            muted: *muted,
        }
    }
}
