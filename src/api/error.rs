//! The one table of API errors: each maps to its HTTP status, ServiceStack `errorCode`
//! and message, and is rendered in the negotiated format.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::negotiate::{Format, RouteFormat, respond};
use crate::contract::dto::{ErrorResponse, ResponseStatus};
use crate::contract::render_error;

/// Every way an API request can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No credentials, or credentials that are not a bearer token (Basic, say).
    #[error("Not Authenticated")]
    NotAuthenticated,
    /// A token past its `exp` (beyond the leeway).
    #[error("Token has expired")]
    TokenExpired,
    /// A token that is malformed, badly signed, of the wrong algorithm, not yet valid, or
    /// for another issuer or audience.
    #[error("Token is invalid")]
    TokenInvalid,
    /// Authenticated, but without the role the service requires.
    #[error("Invalid Role")]
    InvalidRole,
    /// The session asked for is not active (or its history is not kept).
    #[error("Session not found")]
    SessionNotFound,
    /// `?callback=`: JSONP would let any site read a signed-in user's sessions.
    #[error(
        "JSONP (?callback=) is not supported; call the API with fetch or a ServiceStack client"
    )]
    JsonpNotSupported,
    /// The caller has used up its request budget; it may try again after this many
    /// seconds.
    #[error("Too many requests: try again in {retry_after_secs} s")]
    TooManyRequests {
        /// Seconds until a request will be accepted again.
        retry_after_secs: u64,
    },
    /// The replica is still loading (restoring a checkpoint, catching up): what it holds is
    /// partial, so it answers nothing rather than too little, and a load balancer asks
    /// another replica.
    #[error("Service is loading; try again shortly")]
    Loading,
}

impl ApiError {
    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            Self::NotAuthenticated | Self::TokenExpired | Self::TokenInvalid => {
                StatusCode::UNAUTHORIZED
            }
            Self::InvalidRole => StatusCode::FORBIDDEN,
            Self::SessionNotFound => StatusCode::NOT_FOUND,
            Self::JsonpNotSupported => StatusCode::BAD_REQUEST,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Loading => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The ServiceStack `errorCode`: the status name, as ServiceStack's `HttpError` sets it.
    pub fn error_code(self) -> &'static str {
        match self.status() {
            StatusCode::BAD_REQUEST => "NotSupported",
            StatusCode::UNAUTHORIZED => "Unauthorized",
            StatusCode::NOT_FOUND => "NotFound",
            StatusCode::TOO_MANY_REQUESTS => "TooManyRequests",
            StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailable",
            _ => "Forbidden",
        }
    }

    /// The `WWW-Authenticate` challenge for 401 responses (RFC 6750).
    fn challenge(self) -> Option<&'static str> {
        match self {
            Self::NotAuthenticated => Some(r#"Bearer realm="sessiond""#),
            Self::TokenExpired => Some(
                r#"Bearer realm="sessiond", error="invalid_token", error_description="Token has expired""#,
            ),
            Self::TokenInvalid => Some(r#"Bearer realm="sessiond", error="invalid_token""#),
            Self::InvalidRole
            | Self::SessionNotFound
            | Self::JsonpNotSupported
            | Self::TooManyRequests { .. }
            | Self::Loading => None,
        }
    }

    /// The ServiceStack error body.
    pub fn body(self) -> ErrorResponse {
        ErrorResponse {
            response_status: ResponseStatus {
                error_code: self.error_code().to_owned(),
                message: self.to_string(),
                errors: Vec::new(),
            },
        }
    }

    /// The full response in `format`.
    pub fn into_response_as(self, format: Format) -> Response {
        self.into_response_for(format, RouteFormat::None, "ErrorResponse")
    }

    /// The full response in `format`, to a request of `operation` on `route`.
    pub fn into_response_for(
        self,
        format: Format,
        route: RouteFormat,
        operation: &str,
    ) -> Response {
        let body = render_error(format, &self.body());
        let mut response = respond(format, route, operation, body);
        *response.status_mut() = self.status();
        if self == Self::Loading {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let Some(challenge) = self.challenge() {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if let Self::TooManyRequests { retry_after_secs } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.into_response_as(Format::Json)
    }
}
