//! SQS errors: one code, rendered as the JSON protocol answers it (`__type`
//! plus the `x-amzn-query-error` header that maps it back to the query
//! protocol's code) or as the query protocol's XML `ErrorResponse`.

use axum::http::StatusCode;
use rayo_core::queue::QueueError;
use rayo_core::store::StoreError;

/// What failed, as SQS names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorCode {
    QueueDoesNotExist,
    QueueNameExists,
    InvalidAttributeName,
    InvalidAttributeValue,
    InvalidParameterValue,
    MissingParameter,
    InvalidMessageContents,
    ReceiptHandleIsInvalid,
    EmptyBatchRequest,
    TooManyEntriesInBatchRequest,
    BatchEntryIdsNotDistinct,
    InvalidBatchEntryId,
    BatchRequestTooLong,
    PurgeQueueInProgress,
    InvalidAddress,
    /// The query protocol's name for an action it does not know.
    InvalidAction,
    /// The JSON protocol's name for an operation it does not know.
    UnknownOperation,
    /// A JSON body that does not parse.
    Serialization,
    InternalError,
}

impl ErrorCode {
    /// The JSON protocol's `__type`.
    pub(crate) fn json_type(self) -> &'static str {
        match self {
            ErrorCode::QueueDoesNotExist => "com.amazonaws.sqs#QueueDoesNotExist",
            ErrorCode::QueueNameExists => "com.amazonaws.sqs#QueueNameExists",
            ErrorCode::InvalidAttributeName => "com.amazonaws.sqs#InvalidAttributeName",
            ErrorCode::InvalidAttributeValue => "com.amazonaws.sqs#InvalidAttributeValue",
            ErrorCode::InvalidParameterValue => "com.amazonaws.sqs#InvalidParameterValueException",
            ErrorCode::MissingParameter => "com.amazonaws.sqs#MissingRequiredParameterException",
            ErrorCode::InvalidMessageContents => "com.amazonaws.sqs#InvalidMessageContents",
            ErrorCode::ReceiptHandleIsInvalid => "com.amazonaws.sqs#ReceiptHandleIsInvalid",
            ErrorCode::EmptyBatchRequest => "com.amazonaws.sqs#EmptyBatchRequest",
            ErrorCode::TooManyEntriesInBatchRequest => {
                "com.amazonaws.sqs#TooManyEntriesInBatchRequest"
            }
            ErrorCode::BatchEntryIdsNotDistinct => "com.amazonaws.sqs#BatchEntryIdsNotDistinct",
            ErrorCode::InvalidBatchEntryId => "com.amazonaws.sqs#InvalidBatchEntryId",
            ErrorCode::BatchRequestTooLong => "com.amazonaws.sqs#BatchRequestTooLong",
            ErrorCode::PurgeQueueInProgress => "com.amazonaws.sqs#PurgeQueueInProgress",
            ErrorCode::InvalidAddress => "com.amazonaws.sqs#InvalidAddress",
            ErrorCode::InvalidAction => "com.amazonaws.sqs#InvalidAction",
            ErrorCode::UnknownOperation => "com.amazon.coral.service#UnknownOperationException",
            ErrorCode::Serialization => "com.amazon.coral.service#SerializationException",
            ErrorCode::InternalError => "com.amazon.coral.service#InternalFailure",
        }
    }

    /// The query protocol's error code, also sent in `x-amzn-query-error`
    /// and used in the `Code` of a failed batch entry.
    pub(crate) fn query_code(self) -> &'static str {
        match self {
            ErrorCode::QueueDoesNotExist => "AWS.SimpleQueueService.NonExistentQueue",
            ErrorCode::QueueNameExists => "QueueAlreadyExists",
            ErrorCode::InvalidAttributeName => "InvalidAttributeName",
            ErrorCode::InvalidAttributeValue => "InvalidAttributeValue",
            ErrorCode::InvalidParameterValue => "InvalidParameterValue",
            ErrorCode::MissingParameter => "MissingParameter",
            ErrorCode::InvalidMessageContents => "InvalidMessageContents",
            ErrorCode::ReceiptHandleIsInvalid => "ReceiptHandleIsInvalid",
            ErrorCode::EmptyBatchRequest => "AWS.SimpleQueueService.EmptyBatchRequest",
            ErrorCode::TooManyEntriesInBatchRequest => {
                "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
            }
            ErrorCode::BatchEntryIdsNotDistinct => {
                "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"
            }
            ErrorCode::InvalidBatchEntryId => "AWS.SimpleQueueService.InvalidBatchEntryId",
            ErrorCode::BatchRequestTooLong => "AWS.SimpleQueueService.BatchRequestTooLong",
            ErrorCode::PurgeQueueInProgress => "AWS.SimpleQueueService.PurgeQueueInProgress",
            ErrorCode::InvalidAddress => "InvalidAddress",
            ErrorCode::InvalidAction => "InvalidAction",
            ErrorCode::UnknownOperation => "InvalidAction",
            ErrorCode::Serialization => "MalformedInput",
            ErrorCode::InternalError => "InternalError",
        }
    }

    /// The HTTP status, the same in both protocols.
    pub(crate) fn status(self) -> StatusCode {
        match self {
            ErrorCode::ReceiptHandleIsInvalid => StatusCode::NOT_FOUND,
            ErrorCode::PurgeQueueInProgress => StatusCode::FORBIDDEN,
            ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// Whether the caller is at fault (`Sender`) or SQS (`Receiver`).
    pub(crate) fn sender_fault(self) -> bool {
        self != ErrorCode::InternalError
    }
}

/// An SQS error with its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SqsError {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
}

impl SqsError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> SqsError {
        SqsError {
            code,
            message: message.into(),
        }
    }

    /// The queue does not exist; the query protocol words it its own way
    /// (see [`SqsError::query_message`]).
    pub(crate) fn queue_does_not_exist() -> SqsError {
        SqsError::new(
            ErrorCode::QueueDoesNotExist,
            "The specified queue does not exist.",
        )
    }

    pub(crate) fn invalid_parameter(message: impl Into<String>) -> SqsError {
        SqsError::new(ErrorCode::InvalidParameterValue, message)
    }

    pub(crate) fn missing_parameter(name: &str) -> SqsError {
        SqsError::new(
            ErrorCode::MissingParameter,
            format!("The request must contain the parameter {name}."),
        )
    }

    /// `Value <value> for parameter <name> is invalid. Reason: <reason>`.
    pub(crate) fn invalid_value(
        name: &str,
        value: impl std::fmt::Display,
        reason: &str,
    ) -> SqsError {
        SqsError::invalid_parameter(format!(
            "Value {value} for parameter {name} is invalid. Reason: {reason}"
        ))
    }

    /// The message the query protocol answers with.
    pub(crate) fn query_message(&self) -> &str {
        if self.code == ErrorCode::QueueDoesNotExist {
            "The specified queue does not exist for this wsdl version."
        } else {
            &self.message
        }
    }
}

impl From<QueueError> for SqsError {
    fn from(error: QueueError) -> SqsError {
        let code = match &error {
            QueueError::InvalidAttributeName(_) => ErrorCode::InvalidAttributeName,
            QueueError::InvalidAttributeValue(_) => ErrorCode::InvalidAttributeValue,
            QueueError::InvalidParameterValue(_) => ErrorCode::InvalidParameterValue,
            QueueError::MissingParameter(_) => ErrorCode::MissingParameter,
            QueueError::InvalidMessageContents(_) => ErrorCode::InvalidMessageContents,
        };
        SqsError::new(code, error.to_string())
    }
}

impl From<StoreError> for SqsError {
    fn from(error: StoreError) -> SqsError {
        tracing::error!(%error, "queue store failure");
        SqsError::new(
            ErrorCode::InternalError,
            "An internal error occurred; the server log has the details",
        )
    }
}
