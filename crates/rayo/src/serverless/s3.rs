//! The few S3 calls a deploy makes (buckets and their notification
//! configurations), signed with SigV4 as S3 requires.

use anyhow::Context;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::client::{Client, Reply};

/// Signs and sends S3 requests.
#[derive(Debug, Clone)]
pub(crate) struct S3 {
    client: Client,
    access_key: String,
    secret_key: String,
    region: String,
}

impl S3 {
    /// Credentials from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, or
    /// rayo's default `test`/`test`.
    pub(crate) fn new(client: &Client, region: &str) -> S3 {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        S3 {
            client: client.clone(),
            access_key: var("AWS_ACCESS_KEY_ID").unwrap_or_else(|| "test".into()),
            secret_key: var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|| "test".into()),
            region: region.to_string(),
        }
    }

    /// Whether the bucket exists.
    pub(crate) async fn bucket_exists(&self, bucket: &str) -> anyhow::Result<bool> {
        let reply = self.send(Method::HEAD, bucket, "", Bytes::new()).await?;
        Ok(reply.status.is_success())
    }

    /// CreateBucket.
    pub(crate) async fn create_bucket(&self, bucket: &str) -> anyhow::Result<()> {
        let reply = self.send(Method::PUT, bucket, "", Bytes::new()).await?;
        ok(&reply).with_context(|| format!("creating bucket {bucket}"))
    }

    /// ListBuckets: the names.
    pub(crate) async fn list_buckets(&self) -> anyhow::Result<Vec<String>> {
        let reply = self.send(Method::GET, "", "", Bytes::new()).await?;
        ok(&reply).context("listing buckets")?;
        let text = String::from_utf8_lossy(&reply.body);
        Ok(elements(&text, "Name"))
    }

    /// GetBucketNotificationConfiguration: its Lambda configurations as
    /// `{Id, LambdaFunctionArn, Events, Filter}` JSON.
    pub(crate) async fn notifications(&self, bucket: &str) -> anyhow::Result<Vec<Value>> {
        let reply = self
            .send(Method::GET, bucket, "notification=", Bytes::new())
            .await?;
        ok(&reply).with_context(|| format!("reading the notifications of bucket {bucket}"))?;
        let text = String::from_utf8_lossy(&reply.body);
        Ok(blocks(&text, "CloudFunctionConfiguration")
            .into_iter()
            .chain(blocks(&text, "LambdaFunctionConfiguration"))
            .map(|block| {
                let rules: Vec<Value> = blocks(&block, "FilterRule")
                    .iter()
                    .map(|rule| {
                        json!({
                            "Name": elements(rule, "Name").first().cloned().unwrap_or_default().to_ascii_lowercase(),
                            "Value": elements(rule, "Value").first().cloned().unwrap_or_default(),
                        })
                    })
                    .collect();
                json!({
                    "Id": elements(&block, "Id").first().cloned().unwrap_or_default(),
                    "LambdaFunctionArn": elements(&block, "CloudFunction")
                        .into_iter()
                        .chain(elements(&block, "Function"))
                        .next()
                        .unwrap_or_default(),
                    "Events": elements(&block, "Event"),
                    "Rules": rules,
                })
            })
            .collect())
    }

    /// PutBucketNotificationConfiguration with these Lambda configurations.
    pub(crate) async fn put_notifications(
        &self,
        bucket: &str,
        configurations: &[Value],
    ) -> anyhow::Result<()> {
        let mut xml = String::from(
            r#"<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">"#,
        );
        for configuration in configurations {
            xml.push_str("<CloudFunctionConfiguration>");
            xml.push_str(&format!(
                "<Id>{}</Id><CloudFunction>{}</CloudFunction>",
                escape(configuration["Id"].as_str().unwrap_or_default()),
                escape(
                    configuration["LambdaFunctionArn"]
                        .as_str()
                        .unwrap_or_default()
                )
            ));
            for event in configuration["Events"].as_array().into_iter().flatten() {
                xml.push_str(&format!(
                    "<Event>{}</Event>",
                    escape(event.as_str().unwrap_or_default())
                ));
            }
            let rules = configuration["Rules"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if !rules.is_empty() {
                xml.push_str("<Filter><S3Key>");
                for rule in rules {
                    xml.push_str(&format!(
                        "<FilterRule><Name>{}</Name><Value>{}</Value></FilterRule>",
                        escape(rule["Name"].as_str().unwrap_or_default()),
                        escape(rule["Value"].as_str().unwrap_or_default())
                    ));
                }
                xml.push_str("</S3Key></Filter>");
            }
            xml.push_str("</CloudFunctionConfiguration>");
        }
        xml.push_str("</NotificationConfiguration>");
        let reply = self
            .send(Method::PUT, bucket, "notification=", Bytes::from(xml))
            .await?;
        ok(&reply).with_context(|| format!("setting the notifications of bucket {bucket}"))
    }

    async fn send(
        &self,
        method: Method,
        bucket: &str,
        query: &str,
        body: Bytes,
    ) -> anyhow::Result<Reply> {
        let host = self
            .client
            .base()
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or(self.client.base())
            .to_string();
        let path = if bucket.is_empty() {
            "/".to_string()
        } else {
            format!("/{bucket}")
        };
        let now = time::OffsetDateTime::now_utc();
        let date = format!(
            "{:04}{:02}{:02}",
            now.year(),
            u8::from(now.month()),
            now.day()
        );
        let amz_date = format!(
            "{date}T{:02}{:02}{:02}Z",
            now.hour(),
            now.minute(),
            now.second()
        );
        let payload_hash = hex::encode(Sha256::digest(&body));
        let canonical_request = format!(
            "{method}\n{path}\n{query}\nhost:{host}\nx-amz-content-sha256:{payload_hash}\nx-amz-date:{amz_date}\n\nhost;x-amz-content-sha256;x-amz-date\n{payload_hash}"
        );
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical_request.as_bytes()))
        );
        let mut key = hmac(
            format!("AWS4{}", self.secret_key).as_bytes(),
            date.as_bytes(),
        );
        for part in [self.region.as_str(), "s3", "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={signature}",
            self.access_key
        );
        let headers = [
            ("host", host),
            ("x-amz-date", amz_date),
            ("x-amz-content-sha256", payload_hash),
            ("authorization", authorization),
        ];
        let path_and_query = if query.is_empty() {
            path
        } else {
            format!("{path}?{}", query.trim_end_matches('='))
        };
        self.client
            .send(method, &path_and_query, &headers, body)
            .await
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn ok(reply: &Reply) -> anyhow::Result<()> {
    if reply.status.is_success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&reply.body);
    let code = elements(&text, "Code").first().cloned().unwrap_or_default();
    let message = elements(&text, "Message")
        .first()
        .cloned()
        .unwrap_or_default();
    anyhow::bail!("{code}: {message} (HTTP {})", reply.status)
}

/// The text of every `<tag>…</tag>` in `xml`.
fn elements(xml: &str, tag: &str) -> Vec<String> {
    blocks(xml, tag).into_iter().map(|s| unescape(&s)).collect()
}

/// The inner XML of every `<tag>…</tag>` in `xml`.
fn blocks(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else {
            break;
        };
        out.push(after[..end].to_string());
        rest = &after[end + close.len()..];
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}
