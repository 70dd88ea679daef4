//! SQS's query protocol: `Action=<Op>` with flattened parameters
//! (`Attribute.1.Name`, `SendMessageBatchRequestEntry.2.MessageBody`), as a
//! form-encoded POST or a GET, to `/` or to a queue's URL; answered in XML.
//!
//! Parameters are turned into the JSON protocol's input shape and the
//! output back from it, so both protocols run the same operations.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use super::error::{ErrorCode, SqsError};
use super::json::{REQUEST_MAX_BYTES, request_host};
use super::{Protocol, RequestContext};
use crate::ApiState;
use crate::body::read_limited;

/// The query API's XML namespace.
const NAMESPACE: &str = "http://queue.amazonaws.com/doc/2012-11-05/";

/// Whether a request is a query-protocol call: to `/` or a queue URL's
/// path, a GET with `Action=` or a form-encoded POST.
pub(crate) fn is_query_request(request: &Request) -> bool {
    let path = request.uri().path();
    if path != "/" && !is_queue_path(path) {
        return false;
    }
    match *request.method() {
        Method::GET => request.uri().query().is_some_and(|query| {
            parse_form(query).is_ok_and(|pairs| pairs.iter().any(|(k, _)| k == "Action"))
        }),
        Method::POST => request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            }),
        _ => false,
    }
}

/// Runs one query-protocol call.
pub(crate) async fn handle(state: Arc<ApiState>, request: Request) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let context = RequestContext {
        host: request_host(request.headers(), request.uri()),
        protocol: Protocol::Query,
    };
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or_default().to_string();
    let body = match read_limited(request.into_body(), REQUEST_MAX_BYTES).await {
        Ok(Some(body)) => body,
        Ok(None) => {
            let error = SqsError::invalid_parameter(format!(
                "Request body must be smaller than {REQUEST_MAX_BYTES} bytes."
            ));
            return error_response(&error, &request_id);
        }
        Err(error) => {
            return error_response(&SqsError::new(ErrorCode::Serialization, error), &request_id);
        }
    };
    let params = match (
        parse_form(&query),
        std::str::from_utf8(&body)
            .map_err(|_| ())
            .and_then(parse_form),
    ) {
        (Ok(mut params), Ok(body_params)) => {
            params.extend(body_params);
            params
        }
        _ => {
            let error = SqsError::invalid_parameter("The request is not valid form-encoded UTF-8.");
            return error_response(&error, &request_id);
        }
    };
    let Some(action) = params
        .iter()
        .rev()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.clone())
    else {
        let error = SqsError::new(
            ErrorCode::InvalidAction,
            "The request must contain the parameter Action.",
        );
        return error_response(&error, &request_id);
    };
    let mut input = match form_to_input(&params) {
        Ok(input) => input,
        Err(error) => return error_response(&error, &request_id),
    };
    if is_queue_path(&path) && !input.contains_key("QueueUrl") {
        input.insert(
            "QueueUrl".to_string(),
            Value::String(format!("http://{}{path}", context.host)),
        );
    }
    match super::call(&state, &context, &action, Value::Object(input)).await {
        Ok(output) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/xml"),
                (
                    header::HeaderName::from_static("x-amzn-requestid"),
                    &request_id,
                ),
            ],
            render_response(&action, &output, &request_id),
        )
            .into_response(),
        Err(error) => error_response(&error, &request_id),
    }
}

/// `/<12-digit account>/<queue name>`.
fn is_queue_path(path: &str) -> bool {
    let mut segments = path.trim_start_matches('/').split('/');
    matches!(
        (segments.next(), segments.next(), segments.next()),
        (Some(account), Some(name), None)
            if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty()
    )
}

/// Decodes `application/x-www-form-urlencoded` text.
fn parse_form(text: &str) -> Result<Vec<(String, String)>, ()> {
    let decode = |s: &str| -> Result<String, ()> {
        let spaced = s.replace('+', " ");
        percent_decode_str(&spaced)
            .decode_utf8()
            .map(Cow::into_owned)
            .map_err(|_| ())
    };
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(key)?, decode(value)?))
        })
        .collect()
}

/// Flattened lists: the parameter prefix and the JSON member it fills.
const LISTS: &[(&str, &str)] = &[
    ("AttributeName", "AttributeNames"),
    ("MessageAttributeName", "MessageAttributeNames"),
    ("MessageSystemAttributeName", "MessageSystemAttributeNames"),
    ("SendMessageBatchRequestEntry", "Entries"),
    ("DeleteMessageBatchRequestEntry", "Entries"),
    ("ChangeMessageVisibilityBatchRequestEntry", "Entries"),
    ("TagKey", "TagKeys"),
];

/// Flattened maps: the parameter prefix, the JSON member, and the names of
/// an entry's key and value.
const MAPS: &[(&str, &str, &str, &str)] = &[
    ("Attribute", "Attributes", "Name", "Value"),
    ("MessageAttribute", "MessageAttributes", "Name", "Value"),
    (
        "MessageSystemAttribute",
        "MessageSystemAttributes",
        "Name",
        "Value",
    ),
    ("Tag", "tags", "Key", "Value"),
];

/// Members that are integers in the JSON protocol.
const INTEGERS: &[&str] = &[
    "DelaySeconds",
    "MaxNumberOfMessages",
    "MaxResults",
    "VisibilityTimeout",
    "WaitTimeSeconds",
];

/// A parameter tree: `A.1.B=x` is `A → 1 → B → x`.
#[derive(Debug)]
enum Node {
    Leaf(String),
    Branch(BTreeMap<String, Node>),
}

/// The JSON protocol's input for a call's parameters.
fn form_to_input(params: &[(String, String)]) -> Result<Map<String, Value>, SqsError> {
    let mut root = BTreeMap::new();
    for (key, value) in params {
        if key == "Action" || key == "Version" {
            continue;
        }
        let mut branch = &mut root;
        let mut segments = key.split('.').peekable();
        while let Some(segment) = segments.next() {
            if segments.peek().is_none() {
                branch.insert(segment.to_string(), Node::Leaf(value.clone()));
                break;
            }
            let node = branch
                .entry(segment.to_string())
                .or_insert_with(|| Node::Branch(BTreeMap::new()));
            if let Node::Leaf(_) = node {
                *node = Node::Branch(BTreeMap::new());
            }
            let Node::Branch(next) = node else {
                unreachable!("just made a branch");
            };
            branch = next;
        }
    }
    convert(&root)
}

fn convert(branch: &BTreeMap<String, Node>) -> Result<Map<String, Value>, SqsError> {
    let mut out = Map::new();
    for (key, node) in branch {
        if let Some((_, member)) = LISTS.iter().find(|(prefix, _)| prefix == key) {
            let items = indexed(key, node)?
                .into_iter()
                .map(|item| to_value(key, item))
                .collect::<Result<Vec<_>, _>>()?;
            out.insert(member.to_string(), Value::Array(items));
        } else if let Some((_, member, key_name, value_name)) =
            MAPS.iter().find(|(prefix, ..)| prefix == key)
        {
            let mut map = Map::new();
            for entry in indexed(key, node)? {
                let Node::Branch(fields) = entry else {
                    return Err(malformed(key));
                };
                let Some(Node::Leaf(name)) = fields.get(*key_name) else {
                    return Err(malformed(key));
                };
                let value = match fields.get(*value_name) {
                    Some(value) => to_value(value_name, value)?,
                    None => Value::String(String::new()),
                };
                map.insert(name.clone(), value);
            }
            out.insert(member.to_string(), Value::Object(map));
        } else {
            out.insert(key.clone(), to_value(key, node)?);
        }
    }
    Ok(out)
}

/// The entries of a flattened list or map, in index order.
fn indexed<'a>(key: &str, node: &'a Node) -> Result<Vec<&'a Node>, SqsError> {
    let Node::Branch(items) = node else {
        return Err(malformed(key));
    };
    let mut items = items
        .iter()
        .map(|(index, item)| {
            index
                .parse::<u32>()
                .map(|index| (index, item))
                .map_err(|_| malformed(key))
        })
        .collect::<Result<Vec<_>, _>>()?;
    items.sort_by_key(|(index, _)| *index);
    Ok(items.into_iter().map(|(_, item)| item).collect())
}

fn to_value(key: &str, node: &Node) -> Result<Value, SqsError> {
    match node {
        Node::Leaf(text) if INTEGERS.contains(&key) => Ok(text
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(text.clone()))),
        Node::Leaf(text) => Ok(Value::String(text.clone())),
        Node::Branch(branch) => convert(branch).map(Value::Object),
    }
}

fn malformed(key: &str) -> SqsError {
    SqsError::invalid_parameter(format!("The parameter {key} is malformed."))
}

/// Operations whose response has no result element.
const NO_RESULT: &[&str] = &[
    "DeleteQueue",
    "PurgeQueue",
    "SetQueueAttributes",
    "DeleteMessage",
    "ChangeMessageVisibility",
    "TagQueue",
    "UntagQueue",
];

/// The XML response for an operation's output in the JSON shape.
fn render_response(action: &str, output: &Value, request_id: &str) -> String {
    let mut xml = format!(r#"<?xml version="1.0"?><{action}Response xmlns="{NAMESPACE}">"#);
    if !NO_RESULT.contains(&action) {
        match output.as_object().filter(|members| !members.is_empty()) {
            Some(members) => {
                let _ = write!(xml, "<{action}Result>");
                render_members(action, members, &mut xml);
                let _ = write!(xml, "</{action}Result>");
            }
            None => {
                let _ = write!(xml, "<{action}Result/>");
            }
        }
    }
    let _ = write!(
        xml,
        "<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
        escape(request_id)
    );
    xml
}

fn render_members(action: &str, members: &Map<String, Value>, xml: &mut String) {
    for (key, value) in members {
        match value {
            Value::Array(items) => {
                let element = match key.as_str() {
                    "QueueUrls" | "queueUrls" => "QueueUrl".to_string(),
                    "Messages" => "Message".to_string(),
                    "Successful" => format!("{action}ResultEntry"),
                    "Failed" => "BatchResultErrorEntry".to_string(),
                    other => other.to_string(),
                };
                for item in items {
                    render_element(action, &element, item, xml);
                }
            }
            Value::Object(map)
                if matches!(key.as_str(), "Attributes" | "MessageAttributes" | "Tags") =>
            {
                let (element, key_name) = match key.as_str() {
                    "Attributes" => ("Attribute", "Name"),
                    "MessageAttributes" => ("MessageAttribute", "Name"),
                    _ => ("Tag", "Key"),
                };
                for (name, value) in map {
                    let _ = write!(xml, "<{element}><{key_name}>{}</{key_name}>", escape(name));
                    render_element(action, "Value", value, xml);
                    let _ = write!(xml, "</{element}>");
                }
            }
            _ => render_element(action, key, value, xml),
        }
    }
}

fn render_element(action: &str, element: &str, value: &Value, xml: &mut String) {
    match value {
        Value::Object(members) => {
            let _ = write!(xml, "<{element}>");
            render_members(action, members, xml);
            let _ = write!(xml, "</{element}>");
        }
        Value::String(text) => {
            let _ = write!(xml, "<{element}>{}</{element}>", escape(text));
        }
        Value::Null => {}
        other => {
            let _ = write!(xml, "<{element}>{other}</{element}>");
        }
    }
}

/// An error as the query protocol answers it.
fn error_response(error: &SqsError, request_id: &str) -> Response {
    let fault = if error.code.sender_fault() {
        "Sender"
    } else {
        "Receiver"
    };
    let body = format!(
        r#"<?xml version="1.0"?><ErrorResponse xmlns="{NAMESPACE}"><Error><Type>{fault}</Type><Code>{}</Code><Message>{}</Message><Detail/></Error><RequestId>{}</RequestId></ErrorResponse>"#,
        escape(error.code.query_code()),
        escape(error.query_message()),
        escape(request_id),
    );
    (
        error.code.status(),
        [
            (header::CONTENT_TYPE, "text/xml"),
            (
                header::HeaderName::from_static("x-amzn-requestid"),
                request_id,
            ),
        ],
        body,
    )
        .into_response()
}

/// Text escaped for XML; a carriage return as a reference, since parsers
/// turn a literal one into a newline.
fn escape(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'', '\r']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse_form(text).unwrap()
    }

    #[test]
    fn forms_decode() {
        assert_eq!(
            pairs("Action=SendMessage&MessageBody=a+b%2Bc%26%C3%A9&Empty="),
            vec![
                ("Action".to_string(), "SendMessage".to_string()),
                ("MessageBody".to_string(), "a b+c&é".to_string()),
                ("Empty".to_string(), String::new()),
            ]
        );
        assert!(parse_form("a=%FF").is_err());
    }

    #[test]
    fn flattened_parameters_become_json_input() {
        let check = |form: &str, expected: Value| {
            assert_eq!(
                Value::Object(form_to_input(&pairs(form)).unwrap()),
                expected,
                "{form}"
            );
        };
        check(
            "Action=CreateQueue&QueueName=q&Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=5\
             &Attribute.2.Name=DelaySeconds&Attribute.2.Value=1&Tag.1.Key=team&Tag.1.Value=a",
            json!({
                "QueueName": "q",
                "Attributes": { "VisibilityTimeout": "5", "DelaySeconds": "1" },
                "tags": { "team": "a" },
            }),
        );
        check(
            "Action=ReceiveMessage&AttributeName.1=All&MessageAttributeName.1=color\
             &MessageAttributeName.2=size&MaxNumberOfMessages=10&WaitTimeSeconds=x",
            json!({
                "AttributeNames": ["All"],
                "MessageAttributeNames": ["color", "size"],
                "MaxNumberOfMessages": 10,
                "WaitTimeSeconds": "x",
            }),
        );
        check(
            "SendMessageBatchRequestEntry.2.Id=b&SendMessageBatchRequestEntry.2.MessageBody=two\
             &SendMessageBatchRequestEntry.10.Id=c&SendMessageBatchRequestEntry.10.MessageBody=ten\
             &SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=one\
             &SendMessageBatchRequestEntry.1.DelaySeconds=3\
             &SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=n\
             &SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType=Number\
             &SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue=7",
            json!({
                "Entries": [
                    {
                        "Id": "a",
                        "MessageBody": "one",
                        "DelaySeconds": 3,
                        "MessageAttributes": { "n": { "DataType": "Number", "StringValue": "7" } },
                    },
                    { "Id": "b", "MessageBody": "two" },
                    { "Id": "c", "MessageBody": "ten" },
                ],
            }),
        );
        assert!(form_to_input(&pairs("Attribute.x.Name=a")).is_err());
        assert!(form_to_input(&pairs("Attribute.1.Value=a")).is_err());
    }

    #[test]
    fn outputs_render_as_sqs_xml() {
        let rid = "r-1";
        assert_eq!(
            render_response("CreateQueue", &json!({ "QueueUrl": "http://h/0/q&" }), rid),
            format!(
                r#"<?xml version="1.0"?><CreateQueueResponse xmlns="{NAMESPACE}"><CreateQueueResult><QueueUrl>http://h/0/q&amp;</QueueUrl></CreateQueueResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></CreateQueueResponse>"#
            )
        );
        assert_eq!(
            render_response("DeleteQueue", &json!({}), rid),
            format!(
                r#"<?xml version="1.0"?><DeleteQueueResponse xmlns="{NAMESPACE}"><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></DeleteQueueResponse>"#
            )
        );
        let received = render_response(
            "ReceiveMessage",
            &json!({ "Messages": [{
                "MessageId": "m",
                "Body": "a\r\n<b>",
                "Attributes": { "SentTimestamp": "1" },
                "MessageAttributes": { "k": { "StringValue": "v", "DataType": "String" } },
            }]}),
            rid,
        );
        assert!(
            received.contains(
                "<ReceiveMessageResult><Message><Attribute><Name>SentTimestamp</Name><Value>1</Value></Attribute>\
                 <Body>a&#xD;\n&lt;b&gt;</Body>\
                 <MessageAttribute><Name>k</Name><Value><DataType>String</DataType><StringValue>v</StringValue></Value></MessageAttribute>\
                 <MessageId>m</MessageId></Message></ReceiveMessageResult>"
            ),
            "{received}"
        );
        assert!(
            render_response("ReceiveMessage", &json!({}), rid).contains("<ReceiveMessageResult/>")
        );
        let batch = render_response(
            "DeleteMessageBatch",
            &json!({
                "Successful": [{ "Id": "a" }],
                "Failed": [{ "Id": "b", "SenderFault": true, "Code": "ReceiptHandleIsInvalid", "Message": "x" }],
            }),
            rid,
        );
        assert!(
            batch.contains(
                "<BatchResultErrorEntry><Code>ReceiptHandleIsInvalid</Code><Id>b</Id><Message>x</Message><SenderFault>true</SenderFault></BatchResultErrorEntry>\
                 <DeleteMessageBatchResultEntry><Id>a</Id></DeleteMessageBatchResultEntry>"
            ),
            "{batch}"
        );
    }

    #[test]
    fn queue_paths() {
        assert!(is_queue_path("/000000000000/q"));
        assert!(is_queue_path("/000000000000/q.fifo"));
        assert!(!is_queue_path("/"));
        assert!(!is_queue_path("/000000000000"));
        assert!(!is_queue_path("/000000000000/q/x"));
        assert!(!is_queue_path("/bucket/key"));
        assert!(!is_queue_path("/2015-03-31/functions"));
    }

    #[tokio::test]
    async fn errors_render_as_error_responses() {
        use http_body_util::BodyExt;
        let response = error_response(&SqsError::queue_does_not_exist(), "rid");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            format!(
                r#"<?xml version="1.0"?><ErrorResponse xmlns="{NAMESPACE}"><Error><Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code><Message>The specified queue does not exist for this wsdl version.</Message><Detail/></Error><RequestId>rid</RequestId></ErrorResponse>"#
            )
        );
    }
}
