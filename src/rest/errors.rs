//! A gRPC status as an HTTP answer: AIP-193's HTTP status for its code,
//! and the `google.rpc.Status` as JSON in Google's error envelope
//! (`{"error": {"code", "message", "status", "details"}}`), details
//! (ErrorInfo, BadRequest, RetryInfo) written with their `@type`.

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use prost_reflect::{DynamicMessage, MessageDescriptor, SerializeOptions};
use serde_json::{Value, json};
use tonic::Code;
use tonic_types::StatusExt;

/// AIP-193 (google.rpc.Code's documented HTTP mapping).
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// `NOT_FOUND` and the like: google.rpc.Code's enum names.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The error envelope of `status`, its details decoded with `status_type`
/// (`google.rpc.Status`, whose pool holds the detail types).
pub fn envelope(status: &tonic::Status, status_type: &MessageDescriptor) -> Value {
    envelope_as(status, status_type, http_status(status.code()))
}

fn envelope_as(status: &tonic::Status, status_type: &MessageDescriptor, http: StatusCode) -> Value {
    let details = DynamicMessage::decode(status_type.clone(), status.details())
        .ok()
        .and_then(|decoded| {
            decoded
                .serialize_with_options(serde_json::value::Serializer, &SerializeOptions::new())
                .ok()
        })
        .and_then(|mut v| v.get_mut("details").map(Value::take))
        .unwrap_or_else(|| json!([]));
    json!({
        "error": {
            "code": http.as_u16(),
            "message": status.message(),
            "status": code_name(status.code()),
            "details": details,
        }
    })
}

/// The whole HTTP answer of an error: its status, the envelope, and the
/// headers a plain HTTP client acts on (`Retry-After` from `RetryInfo`,
/// `WWW-Authenticate` for a missing or bad token).
pub fn response(
    status: &tonic::Status,
    status_type: &MessageDescriptor,
) -> http::Response<tonic::body::Body> {
    response_as(status, status_type, http_status(status.code()))
}

/// [`response`] with another HTTP status than the code's (405 for a verb
/// the path does not take).
pub fn response_as(
    status: &tonic::Status,
    status_type: &MessageDescriptor,
    http: StatusCode,
) -> http::Response<tonic::body::Body> {
    let body = serde_json::to_vec(&envelope_as(status, status_type, http)).unwrap_or_default();
    let mut response = http::Response::new(tonic::body::Body::new(http_body_util::Full::new(
        Bytes::from(body),
    )));
    *response.status_mut() = http;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(delay) = status.get_details_retry_info().and_then(|r| r.retry_delay) {
        let seconds = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    }
    if status.code() == Code::Unauthenticated {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::ErrorDetails;

    #[test]
    fn an_error_keeps_its_details_as_json() {
        let pool = prost_reflect::DescriptorPool::decode(crate::pb::FILE_DESCRIPTOR_SET).unwrap();
        let status_type = pool.get_message_by_name("google.rpc.Status").unwrap();
        let mut details = ErrorDetails::new();
        details.set_error_info(
            "RESOURCE_NOT_FOUND",
            "partnership.gov.kr",
            [("name".to_owned(), "smes/x".to_owned())],
        );
        details.set_retry_info(Some(std::time::Duration::from_millis(1500)));
        let status = tonic::Status::with_error_details(Code::NotFound, "no such sme", details);
        let json = envelope(&status, &status_type);
        assert_eq!(json["error"]["code"], 404);
        assert_eq!(json["error"]["status"], "NOT_FOUND");
        assert_eq!(json["error"]["message"], "no such sme");
        let details = json["error"]["details"].as_array().unwrap();
        let info = details
            .iter()
            .find(|d| d["@type"] == "type.googleapis.com/google.rpc.ErrorInfo")
            .unwrap();
        assert_eq!(info["reason"], "RESOURCE_NOT_FOUND");
        assert_eq!(info["metadata"]["name"], "smes/x");
        let response = response(&status, &status_type);
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }
}
