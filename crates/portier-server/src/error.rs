//! The one place where errors become HTTP answers:
//! `{"error": {"code", "message", "field"?}}` with the status code
//! docs/RULES.md#errors gives it. Bad input is a 4xx naming the field; only a
//! fault of Portier's own is a 500, and its details go to the log, not to the
//! client.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use portier_core::{Error as DomainError, FieldError};
use portier_store::Error as StoreError;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable reason (`email_missing_at`, `not_found`, …).
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// The request field the error concerns, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
    /// Seconds for `Retry-After` on a 429.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                error: ErrorDetail {
                    code: code.into(),
                    message: message.into(),
                    field: None,
                },
            },
            retry_after: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> ApiError {
        self.body.error.field = Some(field.into());
        self
    }

    /// The same refusal about `to` where it was about `from`: the field as
    /// a form names it.
    pub fn renamed(mut self, from: &str, to: &str) -> ApiError {
        if self.body.error.field.as_deref() == Some(from) {
            self.body.error.field = Some(to.to_owned());
        }
        self
    }

    pub fn field(status: StatusCode, e: FieldError) -> ApiError {
        ApiError::new(status, e.code, e.message).with_field(e.field)
    }

    /// 429 with `Retry-After`.
    pub fn throttled(seconds: u64) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "throttled",
            format!(
                "too many attempts; try again in {} minute(s)",
                seconds.div_ceil(60)
            ),
        );
        e.retry_after = Some(seconds);
        e
    }

    /// A mailed link that was used or has expired is gone (410), as the
    /// store's `link_unusable` conflict says.
    pub fn gone_when_unusable(self) -> ApiError {
        if self.body.error.code == "link_unusable" {
            ApiError {
                status: StatusCode::GONE,
                ..self
            }
        } else {
            self
        }
    }

    pub fn unauthenticated(code: &str, message: &str) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    }

    fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side; it has been logged",
        )
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> ApiError {
        match e {
            DomainError::Invalid(f) => ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, f),
            DomainError::Forbidden { permission } => ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("you lack the permission {permission} on this organization"),
            ),
            e @ DomainError::MemberElsewhere => {
                ApiError::new(StatusCode::FORBIDDEN, "member_elsewhere", e.to_string())
            }
            DomainError::NotFound { what } => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            DomainError::Conflict {
                code,
                field,
                message,
            } => {
                let e = ApiError::new(StatusCode::CONFLICT, code, message);
                match field {
                    Some(f) => e.with_field(f),
                    None => e,
                }
            }
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> ApiError {
        ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Domain(d) => d.into(),
            other => {
                tracing::error!(error = %other, "storage failure");
                ApiError::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status, Json(self.body)).into_response();
        if let Some(s) = self.retry_after
            && let Ok(v) = header::HeaderValue::from_str(&s.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        res
    }
}

/// A panic in a handler is a bug; the client still gets the contract's body.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::internal().into_response()
}
