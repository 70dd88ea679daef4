//! The store traits: where functions, code packages and logs are kept.
//!
//! `state` implements [`FunctionStore`] and [`LogStore`] on SQLite; `blobs`
//! implements [`CodeStore`] under the data directory. Only the `rayo` binary
//! picks the implementations.

use std::path::PathBuf;

use thiserror::Error;

use crate::function::{CodeRef, FunctionRecord};
use crate::invocation::{AsyncCompletion, AsyncInvocation};
use crate::logs::{LogEvent, LogGroupInfo, LogQuery, LogStreamInfo, StoredLogEvent};

/// A store operation that failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The function already exists.
    #[error("function already exists: {0}")]
    AlreadyExists(String),
    /// The function does not exist.
    #[error("function not found: {0}")]
    NotFound(String),
    /// The record changed since it was read (its revision id differs).
    #[error("revision conflict on {0}")]
    RevisionConflict(String),
    /// The backend failed.
    #[error("store backend failed: {0}")]
    Backend(String),
}

/// Function metadata.
pub trait FunctionStore: Send + Sync + std::fmt::Debug {
    /// Adds a new function; fails with [`StoreError::AlreadyExists`].
    fn create_function(&self, record: &FunctionRecord) -> Result<(), StoreError>;
    /// Reads a function by name.
    fn get_function(&self, name: &str) -> Result<Option<FunctionRecord>, StoreError>;
    /// Lists functions ordered by name, starting after `after`.
    fn list_functions(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FunctionRecord>, StoreError>;
    /// Replaces a function if its stored revision is still `expected_revision_id`
    /// and its policy revision still `expected_policy_revision_id`.
    fn update_function(
        &self,
        record: &FunctionRecord,
        expected_revision_id: &str,
        expected_policy_revision_id: &str,
    ) -> Result<(), StoreError>;
    /// Deletes a function; returns whether it existed.
    fn delete_function(&self, name: &str) -> Result<bool, StoreError>;
    /// Code packages some function version or layer version still refers to.
    fn referenced_code(&self) -> Result<Vec<String>, StoreError>;

    /// Publishes `$LATEST` as a new version numbered after the last one,
    /// unless nothing changed since the last version was published (then
    /// that version is returned). Fails with [`StoreError::RevisionConflict`]
    /// when `$LATEST`'s revision is no longer `expected_revision_id`. The
    /// version's description is `description`, or `$LATEST`'s without one.
    fn publish_version(
        &self,
        name: &str,
        expected_revision_id: &str,
        description: Option<&str>,
        revision_id: &str,
        published: time::OffsetDateTime,
    ) -> Result<crate::version::Published, StoreError>;
    /// A published version's configuration (or `$LATEST`'s).
    fn get_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<crate::function::FunctionConfig>, StoreError>;
    /// Every version of a function: `$LATEST` first, then by number.
    fn list_versions(&self, name: &str)
    -> Result<Vec<crate::function::FunctionConfig>, StoreError>;
    /// Deletes a published version; returns whether it existed.
    fn delete_version(&self, name: &str, version: &str) -> Result<bool, StoreError>;

    /// Adds an alias; [`StoreError::AlreadyExists`] when the function has one
    /// by that name, [`StoreError::NotFound`] without the function.
    fn create_alias(&self, alias: &crate::version::Alias) -> Result<(), StoreError>;
    /// Replaces an alias if its revision is still `expected_revision_id`.
    fn update_alias(
        &self,
        alias: &crate::version::Alias,
        expected_revision_id: &str,
    ) -> Result<(), StoreError>;
    /// Reads an alias.
    fn get_alias(
        &self,
        function_name: &str,
        name: &str,
    ) -> Result<Option<crate::version::Alias>, StoreError>;
    /// A function's aliases, ordered by name.
    fn list_aliases(&self, function_name: &str) -> Result<Vec<crate::version::Alias>, StoreError>;
    /// Deletes an alias; returns whether it existed.
    fn delete_alias(&self, function_name: &str, name: &str) -> Result<bool, StoreError>;

    /// Adds or replaces a provisioned concurrency configuration.
    fn put_provisioned_concurrency(
        &self,
        config: &crate::version::ProvisionedConcurrencyConfig,
    ) -> Result<(), StoreError>;
    /// Provisioned concurrency configurations of one function (ordered by
    /// qualifier), or of every function when `function_name` is `None`.
    fn list_provisioned_concurrency(
        &self,
        function_name: Option<&str>,
    ) -> Result<Vec<crate::version::ProvisionedConcurrencyConfig>, StoreError>;
    /// Deletes a provisioned concurrency configuration; returns whether it existed.
    fn delete_provisioned_concurrency(
        &self,
        function_name: &str,
        qualifier: &str,
    ) -> Result<bool, StoreError>;
}

/// Layers and their versions. A version's number is never reused, even
/// after it is deleted.
pub trait LayerStore: Send + Sync + std::fmt::Debug {
    /// Adds a version of a layer, numbered after its last one (its
    /// `version` field is ignored); returns the number.
    fn publish_layer_version(
        &self,
        layer: &crate::version::LayerVersion,
    ) -> Result<u64, StoreError>;
    /// Reads one version.
    fn get_layer_version(
        &self,
        layer_name: &str,
        version: u64,
    ) -> Result<Option<crate::version::LayerVersion>, StoreError>;
    /// A layer's versions, newest first.
    fn list_layer_versions(
        &self,
        layer_name: &str,
    ) -> Result<Vec<crate::version::LayerVersion>, StoreError>;
    /// Every version of every layer, by layer name, newest first within a layer.
    fn list_all_layer_versions(&self) -> Result<Vec<crate::version::LayerVersion>, StoreError>;
    /// Deletes a version; returns whether it existed.
    fn delete_layer_version(&self, layer_name: &str, version: u64) -> Result<bool, StoreError>;
}

/// A deployment package refused by the code store.
#[derive(Debug, Error)]
pub enum PackageError {
    /// The archive is not a readable zip.
    #[error(
        "Could not unzip uploaded file. Please check your file, then try to upload again. ({0})"
    )]
    Malformed(String),
    /// An entry would land outside the package root.
    #[error("Invalid zip entry '{0}': it would be extracted outside the package root")]
    EscapesRoot(String),
    /// A link points outside the package root.
    #[error("Invalid zip entry '{0}': its link target leaves the package root")]
    LinkEscapes(String),
    /// The unzipped size passes the limit.
    #[error("Unzipped size must be smaller than {limit} bytes")]
    TooLargeUnzipped {
        /// The limit in bytes.
        limit: u64,
    },
    /// The zip passes the direct-upload limit.
    #[error("Zipped size must be smaller than {limit} bytes")]
    TooLargeZipped {
        /// The limit in bytes.
        limit: u64,
    },
    /// Too many entries.
    #[error("Deployment package has more than {limit} entries")]
    TooManyEntries {
        /// The limit.
        limit: usize,
    },
    /// Writing the package failed.
    #[error("storing the package failed: {0}")]
    Io(String),
}

/// Deployment packages, kept by content hash.
pub trait CodeStore: Send + Sync + std::fmt::Debug {
    /// Validates, stores and unpacks a zip; storing the same bytes twice is a no-op.
    fn put_package(&self, zip: &[u8]) -> Result<CodeRef, PackageError>;
    /// The zip as uploaded.
    fn read_package(&self, sha256_hex: &str) -> Result<Vec<u8>, PackageError>;
    /// The read-only directory holding the unpacked package.
    fn unpacked_dir(&self, sha256_hex: &str) -> PathBuf;
    /// Removes packages no function refers to.
    fn remove_unreferenced(&self, referenced: &[String]) -> Result<usize, PackageError>;
    /// A read-only directory holding these packages (layers) merged in
    /// order, a later one's files replacing an earlier one's: what an
    /// instance sees at `/opt`. Built once per list and reused.
    fn merged_layers(&self, sha256_hexes: &[String]) -> Result<PathBuf, PackageError>;
}

/// Function logs, in groups and streams.
pub trait LogStore: Send + Sync + std::fmt::Debug {
    /// Appends events to a stream, creating the group and stream if needed.
    fn put_log_events(
        &self,
        group: &str,
        stream: &str,
        events: Vec<LogEvent>,
    ) -> Result<(), StoreError>;
    /// Events of a group that match a query.
    fn query_log_events(
        &self,
        group: &str,
        query: &LogQuery,
    ) -> Result<Vec<StoredLogEvent>, StoreError>;
    /// Groups whose name starts with `prefix`, ordered by name, after `after`.
    fn describe_log_groups(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LogGroupInfo>, StoreError>;
    /// Streams of a group, ordered by name or by last event time.
    fn describe_log_streams(
        &self,
        group: &str,
        prefix: Option<&str>,
        order_by_last_event: bool,
        descending: bool,
    ) -> Result<Option<Vec<LogStreamInfo>>, StoreError>;
    /// Sets a group's retention.
    fn put_retention_policy(&self, group: &str, days: Option<u32>) -> Result<bool, StoreError>;
    /// Deletes a group and its streams; returns whether it existed.
    fn delete_log_group(&self, group: &str) -> Result<bool, StoreError>;
}

/// The durable queue of asynchronous invocations. An invocation is in the
/// queue before its caller is answered, and leaves it only when it is done.
pub trait InvocationQueue: Send + Sync + std::fmt::Debug {
    /// Adds an invocation.
    fn enqueue(&self, invocation: &AsyncInvocation) -> Result<(), StoreError> {
        self.enqueue_all(std::slice::from_ref(invocation), 0, 0)
            .pop()
            .unwrap_or(Ok(()))
    }
    /// Adds invocations in one write; each gets its own outcome, and one that
    /// fails (a request id already queued) does not keep the others out.
    /// The first `n_claimed` are added claimed, leased until
    /// `lease_until_ms` as [`InvocationQueue::claim_due`] would lease them,
    /// for a dispatcher that runs them at once.
    fn enqueue_all(
        &self,
        invocations: &[AsyncInvocation],
        n_claimed: usize,
        lease_until_ms: i64,
    ) -> Vec<Result<(), StoreError>>;
    /// Takes up to `limit` invocations due at `now_ms` and leases them until
    /// `lease_until_ms`; a leased invocation is not handed out again before then.
    fn claim_due(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: usize,
    ) -> Result<Vec<AsyncInvocation>, StoreError>;
    /// Puts an invocation back, to run again at `next_attempt_ms`.
    fn reschedule(
        &self,
        request_id: &str,
        attempts: u32,
        next_attempt_ms: i64,
    ) -> Result<(), StoreError>;
    /// Removes a finished invocation.
    fn finish(&self, request_id: &str) -> Result<(), StoreError>;
    /// Writes what attempts left behind, many at once: each completion's
    /// messages are sent and its invocation finished or rescheduled
    /// together, never one without the other. Each gets its own outcome: for
    /// each of its messages what was sent, or `None` when the queue no
    /// longer exists (the message is dropped, the rest still written).
    fn complete_all(
        &self,
        completions: &[AsyncCompletion],
        now_ms: i64,
    ) -> Vec<Result<Vec<Option<crate::queue::SentMessage>>, StoreError>>;
    /// Ends every lease, after a restart: nothing is running any more.
    fn release_all_leases(&self) -> Result<usize, StoreError>;
    /// When the earliest unleased invocation is due.
    fn next_due_ms(&self) -> Result<Option<i64>, StoreError>;
    /// How many invocations wait, run and wait for a retry at `now_ms`.
    fn counts(&self, now_ms: i64) -> Result<AsyncQueueCounts, StoreError>;
}

/// The durable queue's depth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AsyncQueueCounts {
    /// Due and waiting for a free slot.
    pub waiting: u64,
    /// Claimed by the dispatcher and running (or whose lease has yet to lapse).
    pub running: u64,
    /// Waiting for a later attempt (a retry's delay).
    pub delayed: u64,
}

/// EventBridge rules and their targets, and where each scheduled rule's
/// schedule stands (its next and last tick).
pub trait RuleStore: Send + Sync + std::fmt::Debug {
    /// Creates or replaces a rule (PutRule), keeping its targets. When the
    /// schedule expression or the state changes, the rule's revision moves on
    /// and its next tick is forgotten, for the scheduler to work out anew.
    fn put_rule(&self, rule: &crate::rule::Rule) -> Result<(), StoreError>;
    /// Reads a rule by name.
    fn get_rule(&self, name: &str) -> Result<Option<crate::rule::Rule>, StoreError>;
    /// Rules whose name starts with `prefix`, ordered by name, after `after`.
    fn list_rules(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<crate::rule::Rule>, StoreError>;
    /// Enables or disables a rule; returns whether it exists.
    fn set_rule_state(&self, name: &str, state: crate::rule::RuleState)
    -> Result<bool, StoreError>;
    /// Deletes a rule that has no targets.
    fn delete_rule(&self, name: &str) -> Result<crate::rule::DeleteRuleOutcome, StoreError>;
    /// Adds targets to a rule, replacing those with the same ids, as long as
    /// the rule keeps at most [`crate::rule::MAX_TARGETS_PER_RULE`].
    fn put_targets(
        &self,
        rule_name: &str,
        targets: &[crate::rule::RuleTarget],
    ) -> Result<crate::rule::PutTargetsOutcome, StoreError>;
    /// Removes targets by id (missing ids are no error); `false` when the
    /// rule does not exist.
    fn remove_targets(&self, rule_name: &str, ids: &[String]) -> Result<bool, StoreError>;
    /// A rule's targets in the order they were added; `None` when the rule
    /// does not exist.
    fn list_targets(
        &self,
        rule_name: &str,
    ) -> Result<Option<Vec<crate::rule::RuleTarget>>, StoreError>;
    /// Every enabled rule with a schedule expression, with its targets.
    fn scheduled_rules(&self) -> Result<Vec<crate::rule::ScheduledRule>, StoreError>;
    /// Records a rule's ticks, if its revision is still `revision`; returns
    /// whether it was written (a changed rule is worked out again instead).
    fn record_ticks(
        &self,
        name: &str,
        revision: i64,
        last_fire_ms: Option<i64>,
        next_fire_ms: Option<i64>,
    ) -> Result<bool, StoreError>;
}

/// Function URLs and HTTP APIs with their integrations, routes and stages.
///
/// Every change under an API moves its [`crate::http_trigger::HttpApi::revision`]
/// on, in the same transaction, so the gateway's cached route tables know
/// when they are stale. A function's URLs go with the function.
pub trait HttpTriggerStore: Send + Sync + std::fmt::Debug {
    /// Adds a function URL; fails with [`StoreError::AlreadyExists`] when the
    /// function (and qualifier) has one, or [`StoreError::NotFound`] when the
    /// function does not exist.
    fn create_function_url(
        &self,
        config: &crate::http_trigger::FunctionUrlConfig,
    ) -> Result<(), StoreError>;
    /// The URL of a function (and qualifier).
    fn get_function_url(
        &self,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<Option<crate::http_trigger::FunctionUrlConfig>, StoreError>;
    /// The URL with this id.
    fn function_url_by_id(
        &self,
        url_id: &str,
    ) -> Result<Option<crate::http_trigger::FunctionUrlConfig>, StoreError>;
    /// Every URL of a function, unqualified first.
    fn list_function_urls(
        &self,
        function_name: &str,
    ) -> Result<Vec<crate::http_trigger::FunctionUrlConfig>, StoreError>;
    /// Replaces a URL's settings; fails with [`StoreError::NotFound`].
    fn update_function_url(
        &self,
        config: &crate::http_trigger::FunctionUrlConfig,
    ) -> Result<(), StoreError>;
    /// Deletes a URL; returns whether it existed.
    fn delete_function_url(
        &self,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<bool, StoreError>;

    /// Adds an API with its first integrations, routes and stages (a quick
    /// create), all or nothing.
    fn create_api(
        &self,
        api: &crate::http_trigger::HttpApi,
        integrations: &[crate::http_trigger::Integration],
        routes: &[crate::http_trigger::Route],
        stages: &[crate::http_trigger::Stage],
    ) -> Result<(), StoreError>;
    /// Reads an API.
    fn get_api(&self, api_id: &str) -> Result<Option<crate::http_trigger::HttpApi>, StoreError>;
    /// Every API, oldest first.
    fn list_apis(&self) -> Result<Vec<crate::http_trigger::HttpApi>, StoreError>;
    /// Replaces an API's settings; fails with [`StoreError::NotFound`].
    fn update_api(&self, api: &crate::http_trigger::HttpApi) -> Result<(), StoreError>;
    /// Deletes an API and everything under it; returns whether it existed.
    fn delete_api(&self, api_id: &str) -> Result<bool, StoreError>;

    /// Adds or replaces an integration; [`StoreError::NotFound`] without the API.
    fn put_integration(
        &self,
        api_id: &str,
        integration: &crate::http_trigger::Integration,
    ) -> Result<(), StoreError>;
    /// Reads an integration.
    fn get_integration(
        &self,
        api_id: &str,
        integration_id: &str,
    ) -> Result<Option<crate::http_trigger::Integration>, StoreError>;
    /// An API's integrations, ordered by id.
    fn list_integrations(
        &self,
        api_id: &str,
    ) -> Result<Vec<crate::http_trigger::Integration>, StoreError>;
    /// Deletes an integration; returns whether it existed.
    fn delete_integration(&self, api_id: &str, integration_id: &str) -> Result<bool, StoreError>;

    /// Adds or replaces a route; [`StoreError::AlreadyExists`] when another
    /// route of the API has its key, [`StoreError::NotFound`] without the API.
    fn put_route(&self, api_id: &str, route: &crate::http_trigger::Route)
    -> Result<(), StoreError>;
    /// Reads a route.
    fn get_route(
        &self,
        api_id: &str,
        route_id: &str,
    ) -> Result<Option<crate::http_trigger::Route>, StoreError>;
    /// An API's routes, ordered by key.
    fn list_routes(&self, api_id: &str) -> Result<Vec<crate::http_trigger::Route>, StoreError>;
    /// Deletes a route; returns whether it existed.
    fn delete_route(&self, api_id: &str, route_id: &str) -> Result<bool, StoreError>;

    /// Adds or replaces a stage; [`StoreError::NotFound`] without the API.
    fn put_stage(&self, api_id: &str, stage: &crate::http_trigger::Stage)
    -> Result<(), StoreError>;
    /// Reads a stage.
    fn get_stage(
        &self,
        api_id: &str,
        stage_name: &str,
    ) -> Result<Option<crate::http_trigger::Stage>, StoreError>;
    /// An API's stages, ordered by name.
    fn list_stages(&self, api_id: &str) -> Result<Vec<crate::http_trigger::Stage>, StoreError>;
    /// Deletes a stage; returns whether it existed.
    fn delete_stage(&self, api_id: &str, stage_name: &str) -> Result<bool, StoreError>;
}
