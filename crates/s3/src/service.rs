//! The S3 operations, on rayo's stores: `s3s` hands each one its parsed
//! input (signature already verified) and writes the answer.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use md5::{Digest, Md5};
use rayo_core::Region;
use rayo_core::invocation::AsyncInvocation;
use rayo_core::s3::{
    BodyWriter, Bucket, DeleteBucketOutcome, LambdaNotification, MAX_PUT_SIZE, MIN_PART_SIZE,
    MultipartUpload, NotificationConfiguration, ObjectBodyStore, ObjectMeta, ObjectStore,
    StoredHeaders, UploadedPart, validate_bucket_name,
};
use rayo_core::store::StoreError;
use rayo_invoker::Invoker;
use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use time::OffsetDateTime;

use crate::checksums::Checksums;
use crate::listing;
use crate::notifications::{self, ObjectEvent, RequestContext, Sequencer};

/// The S3 API over rayo's stores.
#[derive(Debug, Clone)]
pub(crate) struct RayoS3 {
    pub(crate) region: Region,
    pub(crate) objects: Arc<dyn ObjectStore>,
    pub(crate) bodies: Arc<dyn ObjectBodyStore>,
    pub(crate) invoker: Invoker,
    pub(crate) sequencer: Arc<Sequencer>,
}

/// Why [`read_object`] found nothing to read.
#[derive(Debug, thiserror::Error)]
pub enum ReadObjectError {
    /// No such bucket.
    #[error("The specified bucket does not exist")]
    NoSuchBucket,
    /// No such key.
    #[error("The specified key does not exist.")]
    NoSuchKey,
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// The body could not be read.
    #[error("reading the object failed: {0}")]
    Io(std::io::Error),
}

/// Reads a whole object, for deployment packages named by bucket and key.
pub async fn read_object(
    objects: &dyn ObjectStore,
    bodies: &dyn ObjectBodyStore,
    bucket: &str,
    key: &str,
) -> Result<Vec<u8>, ReadObjectError> {
    if objects
        .get_bucket(bucket)
        .map_err(ReadObjectError::Store)?
        .is_none()
    {
        return Err(ReadObjectError::NoSuchBucket);
    }
    let object = objects
        .get_object(bucket, key)
        .map_err(ReadObjectError::Store)?
        .ok_or(ReadObjectError::NoSuchKey)?;
    tokio::fs::read(bodies.path(&object.body_id))
        .await
        .map_err(ReadObjectError::Io)
}

#[async_trait::async_trait]
impl S3 for RayoS3 {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let name = req.input.bucket;
        check_bucket_name(&name)?;
        let bucket = Bucket {
            name: name.clone(),
            created_ms: now_ms(),
            notification: NotificationConfiguration::default(),
        };
        let created = self.objects.create_bucket(&bucket).map_err(internal)?;
        // In us-east-1 S3 answers 200 to its owner re-creating a bucket,
        // for compatibility; elsewhere it is an error.
        if !created && self.region.name != "us-east-1" {
            return Err(s3_error!(
                BucketAlreadyOwnedByYou,
                "Your previous request to create the named bucket succeeded and you already own it."
            ));
        }
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{name}")),
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.bucket(&req.input.bucket)?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(self.region.name.clone()),
            ..Default::default()
        }))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.bucket(&req.input.bucket)?;
        let location_constraint = (self.region.name != "us-east-1")
            .then(|| BucketLocationConstraint::from(self.region.name.clone()));
        Ok(S3Response::new(GetBucketLocationOutput {
            location_constraint,
        }))
    }

    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let buckets = self.objects.list_buckets().map_err(internal)?;
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(
                buckets
                    .into_iter()
                    .map(|bucket| s3s::dto::Bucket {
                        name: Some(bucket.name),
                        creation_date: Some(timestamp(bucket.created_ms)),
                        bucket_region: Some(self.region.name.clone()),
                    })
                    .collect(),
            ),
            owner: Some(self.owner()),
            ..Default::default()
        }))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let (outcome, bodies) = self
            .objects
            .delete_bucket(&req.input.bucket)
            .map_err(internal)?;
        match outcome {
            DeleteBucketOutcome::Deleted => {
                self.remove_bodies(bodies);
                Ok(S3Response::new(DeleteBucketOutput {}))
            }
            DeleteBucketOutcome::NotFound => Err(no_such_bucket()),
            DeleteBucketOutcome::NotEmpty => Err(s3_error!(
                BucketNotEmpty,
                "The bucket you tried to delete is not empty"
            )),
        }
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        let bucket = self.bucket(&input.bucket)?;
        if input
            .content_length
            .is_some_and(|n| n as u64 > MAX_PUT_SIZE)
        {
            return Err(entity_too_large());
        }
        let headers = StoredHeaders {
            content_type: input.content_type,
            content_encoding: input.content_encoding,
            content_disposition: input.content_disposition,
            content_language: input.content_language,
            cache_control: input.cache_control,
            expires: input.expires.as_ref().and_then(http_date),
            website_redirect_location: input.website_redirect_location,
            user_metadata: user_metadata(input.metadata),
        };
        let mut checksums = Checksums::requested(
            &req.headers,
            Checksum {
                checksum_crc32: input.checksum_crc32,
                checksum_crc32c: input.checksum_crc32c,
                checksum_crc64nvme: input.checksum_crc64nvme,
                checksum_sha1: input.checksum_sha1,
                checksum_sha256: input.checksum_sha256,
                ..Default::default()
            },
        );
        let (body_id, size, md5) = self
            .write_body(input.body, MAX_PUT_SIZE, &mut checksums)
            .await?;
        let checksum = self.verify_body(
            &body_id,
            &md5,
            input.content_md5.as_deref(),
            checksums,
            req.trailing_headers.as_ref(),
        )?;
        let object = ObjectMeta {
            bucket: bucket.name.clone(),
            key: input.key,
            body_id,
            size,
            etag: hex::encode(md5),
            last_modified_ms: now_ms(),
            headers,
            parts_count: None,
        };
        let context = request_context(&req.extensions);
        let events = self.created_events(
            &bucket,
            &object,
            "ObjectCreated:Put",
            &req.credentials,
            &context,
        );
        self.commit_object(&object, &events)?;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(object.etag)),
            checksum_crc32: checksum.checksum_crc32,
            checksum_crc32c: checksum.checksum_crc32c,
            checksum_crc64nvme: checksum.checksum_crc64nvme,
            checksum_sha1: checksum.checksum_sha1,
            checksum_sha256: checksum.checksum_sha256,
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        self.bucket(&input.bucket)?;
        // A body replaced between reading the row and opening the file is
        // gone; the row read again names the new one.
        let mut attempts = 0;
        let (object, file) = loop {
            let object = self.object(&input.bucket, &input.key)?;
            match tokio::fs::File::open(self.bodies.path(&object.body_id)).await {
                Ok(file) => break (object, file),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound && attempts < 3 => {
                    attempts += 1;
                }
                Err(error) => return Err(internal(error)),
            }
        };
        check_conditions(
            &object,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let (start, length, content_range) = match input.range {
            Some(range) if object.size > 0 => {
                let range = range.check(object.size)?;
                let content_range =
                    format!("bytes {}-{}/{}", range.start, range.end - 1, object.size);
                (range.start, range.end - range.start, Some(content_range))
            }
            _ => (0, object.size, None),
        };
        let body = body_stream(file, start, length).await?;
        let partial = content_range.is_some();
        let headers = object.headers.clone();
        let output = GetObjectOutput {
            accept_ranges: Some("bytes".to_string()),
            body: Some(StreamingBlob::wrap(body)),
            content_length: Some(length as i64),
            content_range,
            e_tag: Some(ETag::Strong(object.etag.clone())),
            last_modified: Some(timestamp(object.last_modified_ms)),
            parts_count: object.parts_count.map(|n| n as i32),
            content_type: input
                .response_content_type
                .or(headers.content_type)
                .or_else(|| Some("binary/octet-stream".to_string())),
            content_encoding: input.response_content_encoding.or(headers.content_encoding),
            content_disposition: input
                .response_content_disposition
                .or(headers.content_disposition),
            content_language: input.response_content_language.or(headers.content_language),
            cache_control: input.response_cache_control.or(headers.cache_control),
            expires: input
                .response_expires
                .or_else(|| headers.expires.as_deref().and_then(parse_http_date)),
            website_redirect_location: headers.website_redirect_location,
            metadata: metadata_map(&headers.user_metadata),
            ..Default::default()
        };
        let mut response = S3Response::new(output);
        if partial {
            response.status = Some(http::StatusCode::PARTIAL_CONTENT);
        }
        Ok(response)
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        self.bucket(&input.bucket)?;
        let object = self.object(&input.bucket, &input.key)?;
        check_conditions(
            &object,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let headers = object.headers;
        Ok(S3Response::new(HeadObjectOutput {
            accept_ranges: Some("bytes".to_string()),
            content_length: Some(object.size as i64),
            e_tag: Some(ETag::Strong(object.etag)),
            last_modified: Some(timestamp(object.last_modified_ms)),
            parts_count: object.parts_count.map(|n| n as i32),
            content_type: headers
                .content_type
                .or_else(|| Some("binary/octet-stream".to_string())),
            content_encoding: headers.content_encoding,
            content_disposition: headers.content_disposition,
            content_language: headers.content_language,
            cache_control: headers.cache_control,
            expires: headers.expires.as_deref().and_then(parse_http_date),
            website_redirect_location: headers.website_redirect_location,
            metadata: metadata_map(&headers.user_metadata),
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let bucket = self.bucket(&req.input.bucket)?;
        let context = request_context(&req.extensions);
        self.delete_one(&bucket, &req.input.key, &req.credentials, &context)?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let bucket = self.bucket(&req.input.bucket)?;
        let context = request_context(&req.extensions);
        let quiet = req.input.delete.quiet.unwrap_or(false);
        if req.input.delete.objects.len() > 1000 {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        }
        let mut deleted = Vec::new();
        for identifier in req.input.delete.objects {
            self.delete_one(&bucket, &identifier.key, &req.credentials, &context)?;
            if !quiet {
                deleted.push(DeletedObject {
                    key: Some(identifier.key),
                    ..Default::default()
                });
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        self.bucket(&input.bucket)?;
        let max_keys = max_keys(input.max_keys)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let after = match input.continuation_token.as_deref() {
            Some(token) => Some(decode_token(token)?),
            None => input.start_after.clone().filter(|s| !s.is_empty()),
        };
        let page = listing::list(
            self.objects.as_ref(),
            &input.bucket,
            &prefix,
            input.delimiter.as_deref(),
            after,
            max_keys,
        )
        .map_err(internal)?;
        let encode = url_encoding(input.encoding_type.as_ref());
        let key_count = (page.objects.len() + page.common_prefixes.len()) as i32;
        let fetch_owner = input.fetch_owner.unwrap_or(false);
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(encode(&prefix)),
            max_keys: Some(max_keys as i32),
            key_count: Some(key_count),
            continuation_token: input.continuation_token,
            is_truncated: Some(page.is_truncated),
            next_continuation_token: page.resume_after.as_deref().map(encode_token),
            contents: Some(self.contents(page.objects, fetch_owner, encode)),
            common_prefixes: Some(common_prefixes(page.common_prefixes, encode)),
            delimiter: input.delimiter.as_deref().map(encode),
            encoding_type: input.encoding_type,
            start_after: input.start_after.as_deref().map(encode),
            ..Default::default()
        }))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        self.bucket(&input.bucket)?;
        let max_keys = max_keys(input.max_keys)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let page = listing::list(
            self.objects.as_ref(),
            &input.bucket,
            &prefix,
            input.delimiter.as_deref(),
            input.marker.clone().filter(|m| !m.is_empty()),
            max_keys,
        )
        .map_err(internal)?;
        let encode = url_encoding(input.encoding_type.as_ref());
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(encode(&prefix)),
            marker: Some(input.marker.as_deref().map(encode).unwrap_or_default()),
            max_keys: Some(max_keys as i32),
            is_truncated: Some(page.is_truncated),
            next_marker: page
                .is_truncated
                .then_some(page.last.as_deref().map(encode))
                .flatten(),
            contents: Some(self.contents(page.objects, true, encode)),
            common_prefixes: Some(common_prefixes(page.common_prefixes, encode)),
            delimiter: input.delimiter.as_deref().map(encode),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        let bucket = self.bucket(&input.bucket)?;
        let (source_bucket, source_key) = copy_source(&input.copy_source)?;
        self.bucket(&source_bucket)?;
        let source = self.object(&source_bucket, &source_key)?;
        check_copy_conditions(
            &source,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
        )?;
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        if source_bucket == bucket.name && source_key == input.key && !replace {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let headers = if replace {
            StoredHeaders {
                content_type: input.content_type,
                content_encoding: input.content_encoding,
                content_disposition: input.content_disposition,
                content_language: input.content_language,
                cache_control: input.cache_control,
                expires: input.expires.as_ref().and_then(http_date),
                website_redirect_location: input.website_redirect_location,
                user_metadata: user_metadata(input.metadata),
            }
        } else {
            source.headers.clone()
        };
        let bodies = self.bodies.clone();
        let source_body = source.body_id.clone();
        let body_id = tokio::task::spawn_blocking(move || bodies.duplicate(&source_body))
            .await
            .map_err(internal)?
            .map_err(internal)?;
        let object = ObjectMeta {
            bucket: bucket.name.clone(),
            key: input.key,
            body_id,
            size: source.size,
            etag: source.etag.clone(),
            last_modified_ms: now_ms(),
            headers,
            parts_count: source.parts_count,
        };
        let context = request_context(&req.extensions);
        let events = self.created_events(
            &bucket,
            &object,
            "ObjectCreated:Copy",
            &req.credentials,
            &context,
        );
        self.commit_object(&object, &events)?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(ETag::Strong(object.etag)),
                last_modified: Some(timestamp(object.last_modified_ms)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        let bucket = self.bucket(&input.bucket)?;
        let upload = MultipartUpload {
            upload_id: new_upload_id(),
            bucket: bucket.name,
            key: input.key,
            initiated_ms: now_ms(),
            headers: StoredHeaders {
                content_type: input.content_type,
                content_encoding: input.content_encoding,
                content_disposition: input.content_disposition,
                content_language: input.content_language,
                cache_control: input.cache_control,
                expires: input.expires.as_ref().and_then(http_date),
                website_redirect_location: input.website_redirect_location,
                user_metadata: user_metadata(input.metadata),
            },
        };
        self.objects.create_upload(&upload).map_err(internal)?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(upload.bucket),
            key: Some(upload.key),
            upload_id: Some(upload.upload_id),
            ..Default::default()
        }))
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let input = req.input;
        self.bucket(&input.bucket)?;
        let part_number = part_number(input.part_number)?;
        self.upload(&input.bucket, &input.key, &input.upload_id)?;
        if input
            .content_length
            .is_some_and(|n| n as u64 > MAX_PUT_SIZE)
        {
            return Err(entity_too_large());
        }
        let mut checksums = Checksums::requested(
            &req.headers,
            Checksum {
                checksum_crc32: input.checksum_crc32,
                checksum_crc32c: input.checksum_crc32c,
                checksum_crc64nvme: input.checksum_crc64nvme,
                checksum_sha1: input.checksum_sha1,
                checksum_sha256: input.checksum_sha256,
                ..Default::default()
            },
        );
        let (body_id, size, md5) = self
            .write_body(input.body, MAX_PUT_SIZE, &mut checksums)
            .await?;
        let checksum = self.verify_body(
            &body_id,
            &md5,
            input.content_md5.as_deref(),
            checksums,
            req.trailing_headers.as_ref(),
        )?;
        let etag = hex::encode(md5);
        self.store_part(&input.upload_id, part_number, body_id, size, etag.clone())?;
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(etag)),
            checksum_crc32: checksum.checksum_crc32,
            checksum_crc32c: checksum.checksum_crc32c,
            checksum_crc64nvme: checksum.checksum_crc64nvme,
            checksum_sha1: checksum.checksum_sha1,
            checksum_sha256: checksum.checksum_sha256,
            ..Default::default()
        }))
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let input = req.input;
        self.bucket(&input.bucket)?;
        let part_number = part_number(input.part_number)?;
        self.upload(&input.bucket, &input.key, &input.upload_id)?;
        let (source_bucket, source_key) = copy_source(&input.copy_source)?;
        self.bucket(&source_bucket)?;
        let source = self.object(&source_bucket, &source_key)?;
        check_copy_conditions(
            &source,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
        )?;
        let (start, length) = match input.copy_source_range.as_deref() {
            Some(range) => copy_source_range(range, source.size)?,
            None => (0, source.size),
        };
        let path = self.bodies.path(&source.body_id);
        let writer = self.bodies.create().map_err(internal)?;
        let (body_id, size, md5) =
            tokio::task::spawn_blocking(move || copy_range(&path, start, length, writer))
                .await
                .map_err(internal)??;
        let etag = hex::encode(md5);
        let last_modified_ms =
            self.store_part(&input.upload_id, part_number, body_id, size, etag.clone())?;
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(ETag::Strong(etag)),
                last_modified: Some(timestamp(last_modified_ms)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let bucket = self.bucket(&input.bucket)?;
        let upload = self.upload(&input.bucket, &input.key, &input.upload_id)?;
        let requested = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default();
        if requested.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        }
        let uploaded: HashMap<u32, UploadedPart> = self
            .objects
            .list_parts(&upload.upload_id)
            .map_err(internal)?
            .into_iter()
            .map(|part| (part.part_number, part))
            .collect();
        let mut chosen = Vec::new();
        let mut previous = 0;
        for (index, part) in requested.iter().enumerate() {
            let number = part.part_number.unwrap_or(0);
            if number <= previous {
                return Err(s3_error!(
                    InvalidPartOrder,
                    "The list of parts was not in ascending order. Parts must be ordered by part number."
                ));
            }
            previous = number;
            let found = u32::try_from(number).ok().and_then(|n| uploaded.get(&n));
            let etag_matches = |found: &UploadedPart| {
                part.e_tag
                    .as_ref()
                    .is_none_or(|etag| etag.value().trim_matches('"') == found.etag)
            };
            let Some(found) = found.filter(|found| etag_matches(found)) else {
                return Err(s3_error!(
                    InvalidPart,
                    "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
                ));
            };
            if index + 1 < requested.len() && found.size < MIN_PART_SIZE {
                return Err(s3_error!(
                    EntityTooSmall,
                    "Your proposed upload is smaller than the minimum allowed size"
                ));
            }
            chosen.push(found.clone());
        }
        let mut md5s = Vec::with_capacity(chosen.len() * 16);
        for part in &chosen {
            md5s.extend(hex::decode(&part.etag).map_err(internal)?);
        }
        let etag = format!("{}-{}", hex::encode(Md5::digest(&md5s)), chosen.len());
        let paths: Vec<_> = chosen
            .iter()
            .map(|p| self.bodies.path(&p.body_id))
            .collect();
        let writer = self.bodies.create().map_err(internal)?;
        let (body_id, size, _) = tokio::task::spawn_blocking(move || concatenate(&paths, writer))
            .await
            .map_err(internal)??;
        let object = ObjectMeta {
            bucket: bucket.name.clone(),
            key: upload.key.clone(),
            body_id: body_id.clone(),
            size,
            etag: etag.clone(),
            last_modified_ms: now_ms(),
            headers: upload.headers,
            parts_count: Some(chosen.len() as u32),
        };
        let context = request_context(&req.extensions);
        let events = self.created_events(
            &bucket,
            &object,
            "ObjectCreated:CompleteMultipartUpload",
            &req.credentials,
            &context,
        );
        let completed = self
            .objects
            .complete_upload(&upload.upload_id, &object, &events);
        match completed {
            Ok(Some(completed)) => {
                self.invoker.async_enqueued();
                self.remove_bodies(completed.replaced.into_iter().chain(completed.parts));
            }
            Ok(None) => {
                self.bodies.remove(&body_id);
                return Err(no_such_upload());
            }
            Err(error) => {
                self.bodies.remove(&body_id);
                return Err(internal(error));
            }
        }
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(bucket.name.clone()),
            key: Some(object.key.clone()),
            e_tag: Some(ETag::Strong(etag)),
            location: Some(format!("/{}/{}", bucket.name, object.key)),
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        self.bucket(&input.bucket)?;
        self.upload(&input.bucket, &input.key, &input.upload_id)?;
        let bodies = self
            .objects
            .abort_upload(&input.upload_id)
            .map_err(internal)?
            .ok_or_else(no_such_upload)?;
        self.remove_bodies(bodies);
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        self.bucket(&input.bucket)?;
        let upload = self.upload(&input.bucket, &input.key, &input.upload_id)?;
        let max_parts = input.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
        let marker = input.part_number_marker.unwrap_or(0).max(0) as u32;
        let all: Vec<UploadedPart> = self
            .objects
            .list_parts(&upload.upload_id)
            .map_err(internal)?
            .into_iter()
            .filter(|part| part.part_number > marker)
            .collect();
        let is_truncated = all.len() > max_parts;
        let parts: Vec<UploadedPart> = all.into_iter().take(max_parts).collect();
        let next_marker = parts.last().map(|p| p.part_number as i32);
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(upload.bucket),
            key: Some(upload.key),
            upload_id: Some(upload.upload_id),
            initiator: Some(Initiator {
                display_name: Some(self.owner_name()),
                id: Some(self.owner_id()),
            }),
            owner: Some(self.owner()),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            max_parts: Some(max_parts as i32),
            is_truncated: Some(is_truncated),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next_marker,
            parts: Some(
                parts
                    .into_iter()
                    .map(|part| Part {
                        e_tag: Some(ETag::Strong(part.etag)),
                        last_modified: Some(timestamp(part.last_modified_ms)),
                        part_number: Some(part.part_number as i32),
                        size: Some(part.size as i64),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        self.bucket(&input.bucket)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let max_uploads = input.max_uploads.unwrap_or(1000).clamp(0, 1000) as usize;
        let key_marker = input.key_marker.clone().unwrap_or_default();
        let uploads: Vec<MultipartUpload> = self
            .objects
            .list_uploads(&input.bucket)
            .map_err(internal)?
            .into_iter()
            .filter(|u| u.key.starts_with(&prefix) && u.key > key_marker)
            .collect();
        let is_truncated = uploads.len() > max_uploads;
        let uploads: Vec<MultipartUpload> = uploads.into_iter().take(max_uploads).collect();
        let last = uploads.last().map(|u| (u.key.clone(), u.upload_id.clone()));
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: Some(prefix),
            key_marker: input.key_marker,
            upload_id_marker: input.upload_id_marker,
            max_uploads: Some(max_uploads as i32),
            is_truncated: Some(is_truncated),
            next_key_marker: is_truncated.then(|| last.clone().map(|l| l.0)).flatten(),
            next_upload_id_marker: is_truncated.then(|| last.map(|l| l.1)).flatten(),
            uploads: Some(
                uploads
                    .into_iter()
                    .map(|upload| s3s::dto::MultipartUpload {
                        initiated: Some(timestamp(upload.initiated_ms)),
                        initiator: Some(Initiator {
                            display_name: Some(self.owner_name()),
                            id: Some(self.owner_id()),
                        }),
                        key: Some(upload.key),
                        owner: Some(self.owner()),
                        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                        upload_id: Some(upload.upload_id),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    async fn put_bucket_notification_configuration(
        &self,
        req: S3Request<PutBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketNotificationConfigurationOutput>> {
        let input = req.input;
        self.bucket(&input.bucket)?;
        let configuration = input.notification_configuration;
        if configuration
            .queue_configurations
            .as_ref()
            .is_some_and(|c| !c.is_empty())
            || configuration
                .topic_configurations
                .as_ref()
                .is_some_and(|c| !c.is_empty())
            || configuration.event_bridge_configuration.is_some()
        {
            return Err(s3_error!(
                NotImplemented,
                "Only LambdaFunctionConfigurations are supported by this server"
            ));
        }
        let mut lambda_functions = Vec::new();
        for config in configuration
            .lambda_function_configurations
            .unwrap_or_default()
        {
            lambda_functions.push(lambda_notification(config)?);
        }
        let notification = NotificationConfiguration { lambda_functions };
        notification.validate().map_err(|error| {
            S3Error::with_message(S3ErrorCode::InvalidArgument, error.to_string())
        })?;
        let skip_validation = input.skip_destination_validation.unwrap_or(false);
        if !skip_validation {
            for config in &notification.lambda_functions {
                let exists = rayo_core::FunctionRef::parse(&config.function_arn)
                    .ok()
                    .is_some_and(|function| self.invoker.resolve(&function).is_ok());
                if !exists {
                    return Err(s3_error!(
                        InvalidArgument,
                        "Unable to validate the following destination configurations"
                    ));
                }
            }
        }
        if !self
            .objects
            .put_notification(&input.bucket, &notification)
            .map_err(internal)?
        {
            return Err(no_such_bucket());
        }
        Ok(S3Response::new(PutBucketNotificationConfigurationOutput {}))
    }

    async fn get_bucket_notification_configuration(
        &self,
        req: S3Request<GetBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketNotificationConfigurationOutput>> {
        let bucket = self.bucket(&req.input.bucket)?;
        let configurations: Vec<LambdaFunctionConfiguration> = bucket
            .notification
            .lambda_functions
            .into_iter()
            .map(|config| {
                let mut rules = Vec::new();
                if let Some(prefix) = config.prefix {
                    rules.push(FilterRule {
                        name: Some(FilterRuleName::from_static(FilterRuleName::PREFIX)),
                        value: Some(prefix),
                    });
                }
                if let Some(suffix) = config.suffix {
                    rules.push(FilterRule {
                        name: Some(FilterRuleName::from_static(FilterRuleName::SUFFIX)),
                        value: Some(suffix),
                    });
                }
                LambdaFunctionConfiguration {
                    events: config.events.into_iter().map(Event::from).collect(),
                    filter: (!rules.is_empty()).then_some(NotificationConfigurationFilter {
                        key: Some(S3KeyFilter {
                            filter_rules: Some(rules),
                        }),
                    }),
                    id: Some(config.id),
                    lambda_function_arn: config.function_arn,
                }
            })
            .collect();
        Ok(S3Response::new(GetBucketNotificationConfigurationOutput {
            lambda_function_configurations: (!configurations.is_empty()).then_some(configurations),
            ..Default::default()
        }))
    }
}

impl RayoS3 {
    fn bucket(&self, name: &str) -> S3Result<Bucket> {
        self.objects
            .get_bucket(name)
            .map_err(internal)?
            .ok_or_else(no_such_bucket)
    }

    fn object(&self, bucket: &str, key: &str) -> S3Result<ObjectMeta> {
        self.objects
            .get_object(bucket, key)
            .map_err(internal)?
            .ok_or_else(|| s3_error!(NoSuchKey, "The specified key does not exist."))
    }

    fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> S3Result<MultipartUpload> {
        self.objects
            .get_upload(upload_id)
            .map_err(internal)?
            .filter(|upload| upload.bucket == bucket && upload.key == key)
            .ok_or_else(no_such_upload)
    }

    fn owner_id(&self) -> String {
        format!("{:0>64}", self.region.account_id)
    }

    fn owner_name(&self) -> String {
        "rayo".to_string()
    }

    fn owner(&self) -> Owner {
        Owner {
            display_name: Some(self.owner_name()),
            id: Some(self.owner_id()),
        }
    }

    fn contents(
        &self,
        objects: Vec<ObjectMeta>,
        fetch_owner: bool,
        encode: fn(&str) -> String,
    ) -> Vec<Object> {
        objects
            .into_iter()
            .map(|object| Object {
                e_tag: Some(ETag::Strong(object.etag)),
                key: Some(encode(&object.key)),
                last_modified: Some(timestamp(object.last_modified_ms)),
                owner: fetch_owner.then(|| self.owner()),
                size: Some(object.size as i64),
                storage_class: Some(ObjectStorageClass::from_static(
                    ObjectStorageClass::STANDARD,
                )),
                ..Default::default()
            })
            .collect()
    }

    /// Streams a request body into a new body; refuses more than `limit`
    /// bytes with `EntityTooLarge`.
    async fn write_body(
        &self,
        body: Option<StreamingBlob>,
        limit: u64,
        checksums: &mut Checksums,
    ) -> S3Result<(String, u64, [u8; 16])> {
        let mut writer = self.bodies.create().map_err(internal)?;
        let mut buffered: Vec<u8> = Vec::new();
        let mut total: u64 = 0;
        if let Some(mut body) = body {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|error| {
                    s3_error!(
                        IncompleteBody,
                        "You did not provide the number of bytes specified by the Content-Length HTTP header: {error}"
                    )
                })?;
                total += chunk.len() as u64;
                if total > limit {
                    return Err(entity_too_large());
                }
                checksums.update(&chunk);
                buffered.extend_from_slice(&chunk);
                if buffered.len() >= WRITE_BUFFER {
                    let bytes = std::mem::take(&mut buffered);
                    writer =
                        tokio::task::spawn_blocking(move || writer.write(&bytes).map(|()| writer))
                            .await
                            .map_err(internal)?
                            .map_err(internal)?;
                }
            }
        }
        tokio::task::spawn_blocking(move || {
            writer.write(&buffered)?;
            writer.commit()
        })
        .await
        .map_err(internal)?
        .map_err(internal)
    }

    /// Checks a written body against `Content-MD5` and the additional
    /// checksums; removes it if one does not match.
    fn verify_body(
        &self,
        body_id: &str,
        md5: &[u8; 16],
        content_md5: Option<&str>,
        checksums: Checksums,
        trailers: Option<&s3s::TrailingHeaders>,
    ) -> S3Result<Checksum> {
        let result = match content_md5 {
            Some(expected) if base64_md5(md5) != expected => Err(s3_error!(
                BadDigest,
                "The Content-MD5 you specified did not match what we received."
            )),
            _ => checksums.verify(trailers),
        };
        if result.is_err() {
            self.bodies.remove(body_id);
        }
        result
    }

    /// Commits an object's row with its events; removes the body it
    /// replaced, or its own if the commit failed.
    fn commit_object(&self, object: &ObjectMeta, events: &[AsyncInvocation]) -> S3Result<()> {
        match self.objects.put_object(object, events) {
            Ok(replaced) => {
                if !events.is_empty() {
                    self.invoker.async_enqueued();
                }
                self.remove_bodies(replaced);
                Ok(())
            }
            Err(error) => {
                self.bodies.remove(&object.body_id);
                Err(internal(error))
            }
        }
    }

    fn store_part(
        &self,
        upload_id: &str,
        part_number: u32,
        body_id: String,
        size: u64,
        etag: String,
    ) -> S3Result<i64> {
        let part = UploadedPart {
            part_number,
            body_id: body_id.clone(),
            size,
            etag,
            last_modified_ms: now_ms(),
        };
        match self.objects.put_part(upload_id, &part) {
            Ok((true, replaced)) => {
                self.remove_bodies(replaced);
                Ok(part.last_modified_ms)
            }
            Ok((false, _)) => {
                self.bodies.remove(&body_id);
                Err(no_such_upload())
            }
            Err(error) => {
                self.bodies.remove(&body_id);
                Err(internal(error))
            }
        }
    }

    fn delete_one(
        &self,
        bucket: &Bucket,
        key: &str,
        credentials: &Option<s3s::auth::Credentials>,
        context: &RequestContext,
    ) -> S3Result<()> {
        let event = ObjectEvent {
            name: "ObjectRemoved:Delete",
            bucket: &bucket.name,
            key,
            created: None,
            access_key: credentials.as_ref().map(|c| c.access_key.as_str()),
            context,
        };
        let events = notifications::invocations(
            &bucket.notification,
            &event,
            &self.region,
            &self.invoker,
            &self.sequencer,
        );
        let removed = self
            .objects
            .delete_object(&bucket.name, key, &events)
            .map_err(internal)?;
        if let Some(removed) = removed {
            if !events.is_empty() {
                self.invoker.async_enqueued();
            }
            self.bodies.remove(&removed.body_id);
        }
        Ok(())
    }

    fn created_events(
        &self,
        bucket: &Bucket,
        object: &ObjectMeta,
        name: &'static str,
        credentials: &Option<s3s::auth::Credentials>,
        context: &RequestContext,
    ) -> Vec<AsyncInvocation> {
        let event = ObjectEvent {
            name,
            bucket: &bucket.name,
            key: &object.key,
            created: Some((object.size, &object.etag)),
            access_key: credentials.as_ref().map(|c| c.access_key.as_str()),
            context,
        };
        notifications::invocations(
            &bucket.notification,
            &event,
            &self.region,
            &self.invoker,
            &self.sequencer,
        )
    }

    fn remove_bodies(&self, bodies: impl IntoIterator<Item = String>) {
        let store = self.bodies.clone();
        let bodies: Vec<String> = bodies.into_iter().collect();
        if bodies.is_empty() {
            return;
        }
        tokio::task::spawn_blocking(move || {
            for body in bodies {
                store.remove(&body);
            }
        });
    }
}

/// Bytes gathered before each write to disk.
const WRITE_BUFFER: usize = 1024 * 1024;

fn check_bucket_name(name: &str) -> S3Result<()> {
    validate_bucket_name(name)
        .map_err(|error| S3Error::with_message(S3ErrorCode::InvalidBucketName, error.to_string()))
}

fn lambda_notification(config: LambdaFunctionConfiguration) -> S3Result<LambdaNotification> {
    let mut prefix = None;
    let mut suffix = None;
    let rules = config
        .filter
        .and_then(|f| f.key)
        .and_then(|k| k.filter_rules)
        .unwrap_or_default();
    for rule in rules {
        let name = rule
            .name
            .as_ref()
            .map(|n| n.as_str().to_ascii_lowercase())
            .unwrap_or_default();
        let value = rule.value.unwrap_or_default();
        let slot = match name.as_str() {
            "prefix" => &mut prefix,
            "suffix" => &mut suffix,
            _ => {
                return Err(s3_error!(
                    InvalidArgument,
                    "filter rule name must be either prefix or suffix"
                ));
            }
        };
        if slot.is_some() {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                format!("Cannot specify more than one {name} rule in a filter."),
            ));
        }
        *slot = Some(value);
    }
    Ok(LambdaNotification {
        id: config
            .id
            .filter(|id| !id.is_empty())
            .unwrap_or_else(new_configuration_id),
        function_arn: config.lambda_function_arn,
        events: config
            .events
            .iter()
            .map(|event| event.as_ref().to_string())
            .collect(),
        prefix,
        suffix,
    })
}

/// Checks GET and HEAD preconditions in the order S3 applies them.
fn check_conditions(
    object: &ObjectMeta,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    let modified_s = object.last_modified_ms / 1000;
    let seconds = |t: &Timestamp| OffsetDateTime::from(t.clone()).unix_timestamp();
    if let Some(condition) = if_match {
        if !etag_condition_matches(condition, &object.etag) {
            return Err(precondition_failed());
        }
    } else if let Some(since) = if_unmodified_since
        && modified_s > seconds(since)
    {
        return Err(precondition_failed());
    }
    if let Some(condition) = if_none_match {
        if etag_condition_matches(condition, &object.etag) {
            return Err(not_modified());
        }
    } else if let Some(since) = if_modified_since
        && modified_s <= seconds(since)
    {
        return Err(not_modified());
    }
    Ok(())
}

/// A copy's source preconditions all answer 412 when they fail.
fn check_copy_conditions(
    object: &ObjectMeta,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    check_conditions(
        object,
        if_match,
        if_none_match,
        if_modified_since,
        if_unmodified_since,
    )
    .map_err(|error| {
        if *error.code() == S3ErrorCode::NotModified {
            precondition_failed()
        } else {
            error
        }
    })
}

fn etag_condition_matches(condition: &ETagCondition, etag: &str) -> bool {
    match condition {
        ETagCondition::Any => true,
        ETagCondition::ETag(candidate) => candidate.value().trim_matches('"') == etag,
    }
}

fn copy_source(source: &CopySource) -> S3Result<(String, String)> {
    match source {
        CopySource::Bucket { bucket, key, .. } => Ok((bucket.to_string(), key.to_string())),
        _ => Err(s3_error!(
            InvalidArgument,
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey"
        )),
    }
}

/// `bytes=first-last` of a copy source, within the object.
fn copy_source_range(range: &str, size: u64) -> S3Result<(u64, u64)> {
    let invalid = || {
        s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"
        )
    };
    let (first, last) = range
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(invalid)?;
    let first: u64 = first.parse().map_err(|_| invalid())?;
    let last: u64 = last.parse().map_err(|_| invalid())?;
    if first > last || last >= size {
        return Err(s3_error!(
            InvalidRange,
            "The requested range is not satisfiable"
        ));
    }
    Ok((first, last - first + 1))
}

fn part_number(number: i32) -> S3Result<u32> {
    if (1..=10_000).contains(&number) {
        Ok(number as u32)
    } else {
        Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        ))
    }
}

fn max_keys(max_keys: Option<i32>) -> S3Result<usize> {
    match max_keys {
        None => Ok(1000),
        Some(n) if n < 0 => Err(s3_error!(
            InvalidArgument,
            "Provided max-keys not an integer or within integer range"
        )),
        Some(n) => Ok((n as usize).min(1000)),
    }
}

fn copy_range(
    path: &std::path::Path,
    start: u64,
    length: u64,
    mut writer: Box<dyn BodyWriter>,
) -> S3Result<(String, u64, [u8; 16])> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).map_err(internal)?;
    file.seek(SeekFrom::Start(start)).map_err(internal)?;
    let mut remaining = length;
    let mut buffer = vec![0u8; 256 * 1024];
    while remaining > 0 {
        let want = buffer.len().min(remaining as usize);
        let n = file.read(&mut buffer[..want]).map_err(internal)?;
        if n == 0 {
            return Err(internal("object body shorter than its size"));
        }
        writer.write(&buffer[..n]).map_err(internal)?;
        remaining -= n as u64;
    }
    writer.commit().map_err(internal)
}

fn concatenate(
    paths: &[std::path::PathBuf],
    mut writer: Box<dyn BodyWriter>,
) -> S3Result<(String, u64, [u8; 16])> {
    use std::io::Read;
    let mut buffer = vec![0u8; 256 * 1024];
    for path in paths {
        let mut file = std::fs::File::open(path).map_err(internal)?;
        loop {
            let n = file.read(&mut buffer).map_err(internal)?;
            if n == 0 {
                break;
            }
            writer.write(&buffer[..n]).map_err(internal)?;
        }
    }
    writer.commit().map_err(internal)
}

/// A body's bytes from `start`, `length` of them, in chunks.
async fn body_stream(
    mut file: tokio::fs::File,
    start: u64,
    length: u64,
) -> S3Result<impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    file.seek(std::io::SeekFrom::Start(start))
        .await
        .map_err(internal)?;
    Ok(futures::stream::unfold(
        (file, length),
        |(mut file, remaining)| async move {
            if remaining == 0 {
                return None;
            }
            let mut buffer = vec![0u8; (remaining as usize).min(256 * 1024)];
            match file.read(&mut buffer).await {
                Ok(0) => Some((
                    Err(std::io::Error::other("object body shorter than its size")),
                    (file, 0),
                )),
                Ok(n) => {
                    buffer.truncate(n);
                    Some((Ok(Bytes::from(buffer)), (file, remaining - n as u64)))
                }
                Err(error) => Some((Err(error), (file, 0))),
            }
        },
    ))
}

fn user_metadata(metadata: Option<Metadata>) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = metadata
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .collect();
    pairs.sort();
    pairs
}

fn metadata_map(pairs: &[(String, String)]) -> Option<Metadata> {
    (!pairs.is_empty()).then(|| pairs.iter().cloned().collect())
}

fn http_date(timestamp: &Timestamp) -> Option<String> {
    let mut out = Vec::new();
    timestamp.format(TimestampFormat::HttpDate, &mut out).ok()?;
    String::from_utf8(out).ok()
}

fn parse_http_date(value: &str) -> Option<Timestamp> {
    Timestamp::parse(TimestampFormat::HttpDate, value).ok()
}

fn timestamp(ms: i64) -> Timestamp {
    let time = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    Timestamp::from(time)
}

fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn base64_md5(md5: &[u8; 16]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(md5)
}

fn new_upload_id() -> String {
    use base64::Engine;
    let bytes: [u8; 48] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn new_configuration_id() -> String {
    use base64::Engine;
    let bytes: [u8; 24] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Continuation tokens are the key a page resumes after, opaque to clients.
fn encode_token(after: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(after.as_bytes())
}

fn decode_token(token: &str) -> S3Result<String> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "The continuation token provided is incorrect"
            )
        })
}

/// Characters kept as they are when a listing is URL-encoded.
const LISTING_KEEPS: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

fn url_encoding(encoding_type: Option<&EncodingType>) -> fn(&str) -> String {
    if encoding_type.is_some_and(|e| e.as_str() == EncodingType::URL) {
        |s| percent_encoding::utf8_percent_encode(s, LISTING_KEEPS).to_string()
    } else {
        str::to_string
    }
}

fn common_prefixes(prefixes: Vec<String>, encode: fn(&str) -> String) -> Vec<CommonPrefix> {
    prefixes
        .into_iter()
        .map(|prefix| CommonPrefix {
            prefix: Some(encode(&prefix)),
        })
        .collect()
}

fn request_context(extensions: &http::Extensions) -> RequestContext {
    extensions
        .get::<RequestContext>()
        .cloned()
        .unwrap_or_else(|| RequestContext {
            request_id: String::new(),
            id2: String::new(),
            source_ip: "127.0.0.1".to_string(),
        })
}

fn no_such_bucket() -> S3Error {
    s3_error!(NoSuchBucket, "The specified bucket does not exist")
}

fn no_such_upload() -> S3Error {
    s3_error!(
        NoSuchUpload,
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    )
}

fn entity_too_large() -> S3Error {
    s3_error!(
        EntityTooLarge,
        "Your proposed upload exceeds the maximum allowed size"
    )
}

fn precondition_failed() -> S3Error {
    s3_error!(
        PreconditionFailed,
        "At least one of the pre-conditions you specified did not hold"
    )
}

fn not_modified() -> S3Error {
    s3_error!(NotModified, "Not Modified")
}

/// An unexpected failure: logged, answered as S3's `InternalError`.
fn internal(error: impl std::fmt::Display) -> S3Error {
    tracing::error!(%error, "S3 request failed");
    s3_error!(
        InternalError,
        "We encountered an internal error. Please try again."
    )
}
