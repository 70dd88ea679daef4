//! The Lambda API's errors: the exception name in `x-amzn-ErrorType`, AWS's
//! status code, and a JSON body with `Type` and the message.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rayo_core::store::StoreError;
use rayo_core::validation::ValidationError;

/// An error answered by the Lambda API.
#[derive(Debug, Clone)]
pub struct LambdaError {
    /// The exception name, such as `ResourceNotFoundException`.
    pub error_type: &'static str,
    /// HTTP status.
    pub status: StatusCode,
    /// Human-readable message.
    pub message: String,
    /// `Reason` of a `TooManyRequestsException`.
    pub reason: Option<&'static str>,
}

impl LambdaError {
    fn new(
        error_type: &'static str,
        status: StatusCode,
        message: impl Into<String>,
    ) -> LambdaError {
        LambdaError {
            error_type,
            status,
            message: message.into(),
            reason: None,
        }
    }

    /// 404 `ResourceNotFoundException`.
    pub fn not_found(message: impl Into<String>) -> LambdaError {
        Self::new("ResourceNotFoundException", StatusCode::NOT_FOUND, message)
    }

    /// 404 `ProvisionedConcurrencyConfigNotFoundException`.
    pub fn provisioned_concurrency_not_found(message: impl Into<String>) -> LambdaError {
        Self::new(
            "ProvisionedConcurrencyConfigNotFoundException",
            StatusCode::NOT_FOUND,
            message,
        )
    }

    /// 404 for a function, worded as Lambda words it.
    pub fn function_not_found(arn: &str) -> LambdaError {
        Self::not_found(format!("Function not found: {arn}"))
    }

    /// 400 `InvalidParameterValueException`.
    pub fn invalid_parameter(message: impl Into<String>) -> LambdaError {
        Self::new(
            "InvalidParameterValueException",
            StatusCode::BAD_REQUEST,
            message,
        )
    }

    /// 400 `ValidationException`.
    pub fn validation(message: impl Into<String>) -> LambdaError {
        Self::new("ValidationException", StatusCode::BAD_REQUEST, message)
    }

    /// 409 `ResourceConflictException`.
    pub fn conflict(message: impl Into<String>) -> LambdaError {
        Self::new("ResourceConflictException", StatusCode::CONFLICT, message)
    }

    /// 412 `PreconditionFailedException`.
    pub fn precondition_failed(message: impl Into<String>) -> LambdaError {
        Self::new(
            "PreconditionFailedException",
            StatusCode::PRECONDITION_FAILED,
            message,
        )
    }

    /// 400 `InvalidRequestContentException`.
    pub fn invalid_content(message: impl Into<String>) -> LambdaError {
        Self::new(
            "InvalidRequestContentException",
            StatusCode::BAD_REQUEST,
            message,
        )
    }

    /// 413 `RequestEntityTooLargeException` for a body over `limit` bytes.
    pub fn too_large(limit: usize, operation: &str) -> LambdaError {
        Self::new(
            "RequestEntityTooLargeException",
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request must be smaller than {limit} bytes for the {operation} operation"),
        )
    }

    /// 500 `ServiceException`.
    pub fn service(message: impl Into<String>) -> LambdaError {
        Self::new(
            "ServiceException",
            StatusCode::INTERNAL_SERVER_ERROR,
            message,
        )
    }

    /// 429 `TooManyRequestsException` with Lambda's `Reason`.
    pub fn throttled(reason: &'static str) -> LambdaError {
        LambdaError {
            reason: Some(reason),
            ..Self::new(
                "TooManyRequestsException",
                StatusCode::TOO_MANY_REQUESTS,
                "Rate Exceeded.",
            )
        }
    }

    /// 400 `PolicyLengthExceededException`.
    pub fn new_policy_too_long() -> LambdaError {
        Self::new(
            "PolicyLengthExceededException",
            StatusCode::BAD_REQUEST,
            "The final policy size is bigger than the limit.",
        )
    }

    /// 404 for a path and method no operation has.
    pub fn unknown_operation(method: &str, path: &str) -> LambdaError {
        Self::new(
            "UnknownOperationException",
            StatusCode::NOT_FOUND,
            format!("No operation matches {method} {path}"),
        )
    }
}

impl From<ValidationError> for LambdaError {
    fn from(error: ValidationError) -> LambdaError {
        match error {
            ValidationError::Constraint(_) => LambdaError::validation(error.to_string()),
            ValidationError::InvalidParameter(message) => LambdaError::invalid_parameter(message),
        }
    }
}

impl From<StoreError> for LambdaError {
    fn from(error: StoreError) -> LambdaError {
        tracing::error!(%error, "store failure");
        LambdaError::service("An internal error occurred; the server log has the details")
    }
}

impl IntoResponse for LambdaError {
    fn into_response(self) -> Response {
        // The service model names the message member `Message` for these
        // exceptions and `message` for the rest; botocore reads either.
        let message_key = match self.error_type {
            "ResourceNotFoundException" | "ServiceException" | "InvalidZipFileException" => {
                "Message"
            }
            _ => "message",
        };
        let mut body = serde_json::json!({ "Type": "User", message_key: self.message });
        if let Some(reason) = self.reason {
            body["Reason"] = serde_json::json!(reason);
        }
        let request_id = uuid::Uuid::new_v4().to_string();
        (
            self.status,
            [
                ("x-amzn-errortype", self.error_type),
                ("content-type", "application/json"),
                ("x-amzn-requestid", request_id.as_str()),
            ],
            body.to_string(),
        )
            .into_response()
    }
}
