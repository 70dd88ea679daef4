//! Lambda's documented quotas, as rayo enforces them.

/// Smallest configurable memory, in MB.
pub const MEMORY_SIZE_MIN_MB: u32 = 128;
/// Largest configurable memory, in MB.
pub const MEMORY_SIZE_MAX_MB: u32 = 10_240;
/// Default memory, in MB.
pub const MEMORY_SIZE_DEFAULT_MB: u32 = 128;
/// Smallest timeout, in seconds.
pub const TIMEOUT_MIN_SECONDS: u32 = 1;
/// Largest timeout, in seconds.
pub const TIMEOUT_MAX_SECONDS: u32 = 900;
/// Default timeout, in seconds.
pub const TIMEOUT_DEFAULT_SECONDS: u32 = 3;
/// Smallest `/tmp`, in MB.
pub const EPHEMERAL_STORAGE_MIN_MB: u32 = 512;
/// Largest `/tmp`, in MB.
pub const EPHEMERAL_STORAGE_MAX_MB: u32 = 10_240;
/// Total size of environment variables (keys and values), in bytes.
pub const ENVIRONMENT_MAX_BYTES: usize = 4 * 1024;
/// Largest synchronous invocation payload (request or response), in bytes.
pub const SYNC_PAYLOAD_MAX_BYTES: usize = 6 * 1024 * 1024;
/// Largest asynchronous invocation payload (`InvocationType=Event`), in bytes.
pub const ASYNC_PAYLOAD_MAX_BYTES: usize = 1024 * 1024;
/// Largest payload of the deprecated InvokeAsync operation, in bytes.
pub const INVOKE_ASYNC_PAYLOAD_MAX_BYTES: usize = 256 * 1024;
/// Largest zipped deployment package uploaded directly, in bytes.
pub const ZIP_DIRECT_MAX_BYTES: u64 = 50 * 1024 * 1024;
/// Largest request body for CreateFunction and UpdateFunctionCode: the zip,
/// base64-encoded, inside JSON.
pub const CODE_REQUEST_MAX_BYTES: usize = 70_167_211;
/// Largest unzipped deployment package (code and layers), in bytes.
pub const UNZIPPED_MAX_BYTES: u64 = 250 * 1024 * 1024;
/// Most entries accepted in one deployment package.
pub const ZIP_MAX_ENTRIES: usize = 100_000;
/// Description length, in characters.
pub const DESCRIPTION_MAX_CHARS: usize = 256;
/// Bytes of log returned by `LogType=Tail`.
pub const LOG_TAIL_BYTES: usize = 4 * 1024;
/// Largest resource-based policy document, in bytes.
pub const POLICY_MAX_BYTES: usize = 20 * 1024;
/// Tags per function.
pub const TAGS_MAX: usize = 50;
