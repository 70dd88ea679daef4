//! The apigatewayv2 API's errors: the exception name in `x-amzn-ErrorType`,
//! AWS's status code, and a JSON body with `message`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rayo_core::store::StoreError;

/// An error answered by the apigatewayv2 API.
#[derive(Debug, Clone)]
pub(crate) struct ApiGatewayError {
    error_type: &'static str,
    status: StatusCode,
    message: String,
    resource_type: Option<&'static str>,
}

impl ApiGatewayError {
    /// 400 `BadRequestException`.
    pub(crate) fn bad_request(message: impl Into<String>) -> ApiGatewayError {
        ApiGatewayError {
            error_type: "BadRequestException",
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            resource_type: None,
        }
    }

    /// 404 `NotFoundException` for a resource of `resource_type`.
    pub(crate) fn not_found(
        resource_type: &'static str,
        message: impl Into<String>,
    ) -> ApiGatewayError {
        ApiGatewayError {
            error_type: "NotFoundException",
            status: StatusCode::NOT_FOUND,
            message: message.into(),
            resource_type: Some(resource_type),
        }
    }

    /// 409 `ConflictException`.
    pub(crate) fn conflict(message: impl Into<String>) -> ApiGatewayError {
        ApiGatewayError {
            error_type: "ConflictException",
            status: StatusCode::CONFLICT,
            message: message.into(),
            resource_type: None,
        }
    }

    /// 500, for failures that are rayo's.
    fn internal() -> ApiGatewayError {
        ApiGatewayError {
            error_type: "InternalServerErrorException",
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "An internal error occurred; the server log has the details".to_string(),
            resource_type: None,
        }
    }
}

impl From<StoreError> for ApiGatewayError {
    fn from(error: StoreError) -> ApiGatewayError {
        tracing::error!(%error, "store failure");
        ApiGatewayError::internal()
    }
}

impl IntoResponse for ApiGatewayError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "message": self.message });
        if let Some(resource_type) = self.resource_type {
            body["resourceType"] = serde_json::json!(resource_type);
        }
        (
            self.status,
            [
                ("x-amzn-errortype", self.error_type),
                ("content-type", "application/json"),
            ],
            body.to_string(),
        )
            .into_response()
    }
}
