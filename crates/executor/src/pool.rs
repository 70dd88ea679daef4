//! The pool actor: per function version, the idle instances ready to serve
//! and the number busy. Invocations run on their own tasks; the actor only
//! hands out and takes back instances, so it never waits on a function.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rayo_core::metrics::Outcome;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::instance::{self, Instance};
use crate::{
    ExecutorCommand, ExecutorConfig, ExecutorError, FunctionInstances, InvocationOutcome,
    InvocationRequest, ProvisionedStatus, ProvisionedTarget, SCALE_OUT_INTERVAL,
    SCALE_OUT_PATIENCE, ScaleOut, ThrottleReason,
};

/// Where an invocation's outcome goes.
type Reply = oneshot::Sender<Result<InvocationOutcome, ExecutorError>>;

/// An invocation from a queue waiting for one of its version's instances.
#[derive(Debug)]
struct Waiting {
    call: Call,
    since: Instant,
}

/// Instances of one function version.
#[derive(Debug, Default)]
struct Pool {
    idle: Vec<Instance>,
    busy: usize,
    /// The newest revision seen; instances of older ones are not reused.
    revision_id: String,
    /// Provisioned concurrency asked for this version.
    provisioned: Option<ProvisionedTarget>,
    /// Provisioned instances starting, idle or busy.
    provisioned_alive: u32,
    /// Provisioned instances initialized (idle or busy).
    provisioned_ready: u32,
    /// Whether the last provisioned instance started failed to initialize.
    provisioned_failed: bool,
    /// Invocations from queues waiting for an instance, oldest first.
    waiting: VecDeque<Waiting>,
    /// When an instance last started for a waiting invocation.
    last_scale_out: Option<Instant>,
    /// Busy instances started for their invocation and not yet initialized.
    starting: usize,
    /// Busy instances running invocations from queues.
    queued_busy: usize,
    /// How many instances invocations from queues may use at once (at least
    /// one): grown like the version itself, by one per
    /// [`SCALE_OUT_INTERVAL`] while the oldest has waited
    /// [`SCALE_OUT_PATIENCE`], and narrowed to what they use (plus one)
    /// whenever nothing waits. Idle instances beyond it stay idle, so a
    /// queue that two instances keep up with runs on two, however many a
    /// burst of callers left warm.
    queued_window: usize,
}

impl Pool {
    /// An idle instance to run on: a provisioned one first; else the most
    /// recently used, the warmest.
    fn take_idle(&mut self) -> Option<Instance> {
        match self.idle.iter().rposition(|i| i.provisioned) {
            Some(index) => Some(self.idle.remove(index)),
            None => self.idle.pop(),
        }
    }

    /// What the oldest waiting invocation runs on now, if anything, given
    /// whether an instance is idle: an idle one within the queued window; a
    /// new one when none will come back (no instance is busy) or when it
    /// is of an older revision than the idle ones. Otherwise it waits until
    /// it has waited [`SCALE_OUT_PATIENCE`] and the window last grew
    /// [`SCALE_OUT_INTERVAL`] ago; then the window grows by one, onto an
    /// idle instance if there is one, else onto a new one, provided fewer
    /// instances are starting than serving (at most one while none
    /// serves): a version that starts slowly doubles per start rather than
    /// piling up starts.
    fn choose(&self, now: Instant, idle: bool) -> Option<Serve> {
        let oldest = self.waiting.front()?;
        if oldest.call.request.function.revision_id != self.revision_id {
            return Some(Serve::New);
        }
        if idle && self.queued_busy < self.queued_window.max(1) {
            return Some(Serve::Idle);
        }
        if !idle && self.busy == 0 {
            return Some(Serve::New);
        }
        if self.next_scale_out().is_none_or(|at| at > now) {
            return None;
        }
        if idle {
            return Some(Serve::Grow);
        }
        // Instances still starting will serve soon; while more start than
        // are serving, waiting for them beats starting yet another.
        let initialized = self.busy.saturating_sub(self.starting);
        (self.starting == 0 || self.starting < initialized).then_some(Serve::New)
    }

    /// A queued invocation ended on an instance of this version.
    fn queued_released(&mut self) {
        self.queued_busy = self.queued_busy.saturating_sub(1);
        if self.waiting.is_empty() {
            self.queued_window = self.queued_window.min(self.queued_busy + 1);
        }
    }

    /// When the oldest waiting invocation may start a new instance.
    fn next_scale_out(&self) -> Option<Instant> {
        let since = self.waiting.front()?.since + SCALE_OUT_PATIENCE;
        let after = self
            .last_scale_out
            .map_or(since, |last| (last + SCALE_OUT_INTERVAL).max(since));
        Some(after)
    }

    fn provisioned_wanted(&self) -> u32 {
        self.provisioned.as_ref().map_or(0, |t| t.count)
    }

    /// Turns provisioned instances past what is asked for into ordinary
    /// ones, which idle reaping ends.
    fn shed_provisioned(&mut self) {
        let wanted = self.provisioned_wanted();
        for instance in self.idle.iter_mut() {
            if self.provisioned_alive <= wanted {
                break;
            }
            if instance.provisioned {
                instance.provisioned = false;
                self.provisioned_alive -= 1;
                self.provisioned_ready = self.provisioned_ready.saturating_sub(1);
            }
        }
    }
}

/// A provisioned instance that finished starting (or failed to).
#[derive(Debug)]
struct ProvisionedStarted {
    key: String,
    revision_id: String,
    instance: Option<Instance>,
}

/// An invocation task's report back to the actor.
#[derive(Debug)]
struct Released {
    key: String,
    function_name: String,
    reserved: bool,
    /// Whether the invocation took a concurrency slot (one served by a
    /// provisioned instance does not: that instance is its slot).
    counted: bool,
    /// Whether the instance it ran on was a provisioned one.
    provisioned: bool,
    /// Whether the invocation came from a queue.
    queued: bool,
    instance: Option<Instance>,
}

/// Concurrent executions in flight, against Lambda's two limits: a
/// function's reservation, and the account's unreserved remainder.
#[derive(Debug, Default)]
struct Concurrency {
    account_limit: u32,
    total_reserved: u32,
    /// Provisioned concurrency of functions without a reservation, which
    /// the unreserved pool keeps for them.
    unreserved_provisioned: u32,
    /// Provisioned concurrency of each function with a reservation: its
    /// on-demand invocations get what the reservation leaves.
    reserved_provisioned: HashMap<String, u32>,
    unreserved_busy: u32,
    busy_by_function: HashMap<String, u32>,
}

impl Concurrency {
    /// Whether a slot is free, or which limit is reached.
    fn admits(&self, function_name: &str, reserved: Option<u32>) -> Result<(), ThrottleReason> {
        match reserved {
            Some(limit) => {
                let busy = self.busy_by_function.get(function_name).copied();
                let provisioned = self.reserved_provisioned.get(function_name).copied();
                if busy.unwrap_or(0) + provisioned.unwrap_or(0) >= limit {
                    return Err(ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded);
                }
            }
            None => {
                let unreserved = self
                    .account_limit
                    .saturating_sub(self.total_reserved)
                    .saturating_sub(self.unreserved_provisioned);
                if self.unreserved_busy >= unreserved {
                    return Err(ThrottleReason::ConcurrentInvocationLimitExceeded);
                }
            }
        }
        Ok(())
    }

    /// Takes a slot, or says which limit is reached.
    fn acquire(
        &mut self,
        function_name: &str,
        reserved: Option<u32>,
    ) -> Result<(), ThrottleReason> {
        self.admits(function_name, reserved)?;
        match self.busy_by_function.get_mut(function_name) {
            Some(busy) => *busy += 1,
            None => {
                self.busy_by_function.insert(function_name.to_string(), 1);
            }
        }
        if reserved.is_none() {
            self.unreserved_busy += 1;
        }
        Ok(())
    }

    /// Takes in what the pools are asked to keep provisioned.
    fn count_provisioned(&mut self, pools: &HashMap<String, Pool>) {
        self.unreserved_provisioned = 0;
        self.reserved_provisioned.clear();
        for target in pools.values().filter_map(|pool| pool.provisioned.as_ref()) {
            match target.reserved_concurrency {
                None => self.unreserved_provisioned += target.count,
                Some(_) => {
                    *self
                        .reserved_provisioned
                        .entry(target.function.name.clone())
                        .or_default() += target.count;
                }
            }
        }
    }

    fn release(&mut self, function_name: &str, reserved: bool) {
        if let Some(busy) = self.busy_by_function.get_mut(function_name) {
            *busy = busy.saturating_sub(1);
            if *busy == 0 {
                self.busy_by_function.remove(function_name);
            }
        }
        if !reserved {
            self.unreserved_busy = self.unreserved_busy.saturating_sub(1);
        }
    }
}

/// Runs the actor until shutdown completes.
pub(crate) async fn run(
    config: Arc<ExecutorConfig>,
    mut commands: mpsc::Receiver<ExecutorCommand>,
) {
    let mut pools: HashMap<String, Pool> = HashMap::new();
    let (released_sender, mut released) = mpsc::unbounded_channel::<Released>();
    let (started_sender, mut started) = mpsc::unbounded_channel::<ProvisionedStarted>();
    let mut reaper = tokio::time::interval(reap_interval(config.idle_timeout));
    let mut shutdown: Option<oneshot::Sender<()>> = None;
    let mut concurrency = Concurrency {
        account_limit: config.account_concurrency,
        ..Concurrency::default()
    };
    let (initialized_sender, mut initialized) = mpsc::unbounded_channel::<String>();
    let dispatcher = Dispatcher {
        config: config.clone(),
        released: released_sender,
        initialized: initialized_sender,
    };
    // The pools with invocations waiting for an instance.
    let mut waiting_keys: HashSet<String> = HashSet::new();
    loop {
        let next_scale_out = waiting_keys
            .iter()
            .filter_map(|key| pools.get(key)?.next_scale_out())
            .min();
        tokio::select! {
            // Instances coming back are taken in before new invocations, so a
            // caller's next invocation finds the instance its last one freed.
            biased;
            Some(Released { key, function_name, reserved, counted, provisioned, queued, instance }) = released.recv() => {
                if counted {
                    concurrency.release(&function_name, reserved);
                }
                if let Some(pool) = pools.get_mut(&key) {
                    pool.busy -= 1;
                    if queued {
                        pool.queued_released();
                    }
                    let alive = instance.is_some();
                    if let Some(instance) = instance
                        && instance.revision_id == pool.revision_id
                        && shutdown.is_none()
                    {
                        pool.idle.push(instance);
                    } else if provisioned && pool.provisioned_alive > 0 {
                        // A provisioned instance ended (or went stale): replace it.
                        pool.provisioned_alive -= 1;
                        pool.provisioned_ready = pool.provisioned_ready.saturating_sub(1);
                    }
                    if provisioned && alive {
                        pool.shed_provisioned();
                    }
                    if shutdown.is_none() {
                        replenish(&config, &key, pool, &started_sender);
                    }
                    if !pool.waiting.is_empty() {
                        dispatcher.serve_waiting(&mut concurrency, &key, pool, Instant::now());
                        if pool.waiting.is_empty() {
                            waiting_keys.remove(&key);
                        }
                    }
                }
            }
            Some(key) = initialized.recv() => {
                if let Some(pool) = pools.get_mut(&key) {
                    pool.starting = pool.starting.saturating_sub(1);
                    if !pool.waiting.is_empty() {
                        dispatcher.serve_waiting(&mut concurrency, &key, pool, Instant::now());
                        if pool.waiting.is_empty() {
                            waiting_keys.remove(&key);
                        }
                    }
                }
            }
            () = async { tokio::time::sleep_until(next_scale_out.unwrap_or_else(Instant::now)).await },
                if next_scale_out.is_some() =>
            {
                let now = Instant::now();
                for key in &waiting_keys {
                    if let Some(pool) = pools.get_mut(key) {
                        dispatcher.serve_waiting(&mut concurrency, key, pool, now);
                    }
                }
                waiting_keys.retain(|key| pools.get(key).is_some_and(|pool| !pool.waiting.is_empty()));
            }
            Some(ProvisionedStarted { key, revision_id, instance }) = started.recv() => {
                if let Some(pool) = pools.get_mut(&key) {
                    match instance {
                        Some(instance)
                            if shutdown.is_none()
                                && revision_id == pool.revision_id
                                && pool.provisioned_alive <= pool.provisioned_wanted() =>
                        {
                            pool.provisioned_ready += 1;
                            pool.provisioned_failed = false;
                            pool.idle.push(instance);
                        }
                        // Failed: tried again at the next reaping.
                        None => {
                            pool.provisioned_alive = pool.provisioned_alive.saturating_sub(1);
                            pool.provisioned_failed = true;
                        }
                        // Not wanted any more: it ends here.
                        Some(_) => pool.provisioned_alive = pool.provisioned_alive.saturating_sub(1),
                    }
                }
            }
            command = commands.recv(), if shutdown.is_none() => match command {
                Some(ExecutorCommand::Invoke { request, reply }) => {
                    let key = pool_key(&request.function.name, &request.function.version);
                    let pool = pools.entry(key.clone()).or_default();
                    if pool.revision_id != request.function.revision_id {
                        pool.revision_id = request.function.revision_id.clone();
                        pool.idle.clear();
                        pool.provisioned_alive = 0;
                        pool.provisioned_ready = 0;
                    }
                    let call = Call { request, reply };
                    if call.request.scale_out == ScaleOut::Paced {
                        let function = &call.request.function.name;
                        if let Err(reason) = concurrency.admits(function, call.request.reserved_concurrency) {
                            config.metrics.record_throttle(function);
                            let _ = call.reply.send(Err(ExecutorError::Throttled(reason)));
                            continue;
                        }
                        let now = Instant::now();
                        pool.waiting.push_back(Waiting { call, since: now });
                        dispatcher.serve_waiting(&mut concurrency, &key, pool, now);
                        if !pool.waiting.is_empty() {
                            waiting_keys.insert(key);
                        }
                        continue;
                    }
                    let idle = pool.take_idle();
                    dispatcher.dispatch(&mut concurrency, &key, pool, call, idle);
                }
                Some(ExecutorCommand::Instances { reply }) => {
                    let _ = reply.send(instances_by_function(&pools));
                }
                Some(ExecutorCommand::ReservedConcurrencyChanged { total_reserved }) => {
                    concurrency.total_reserved = total_reserved;
                }
                Some(ExecutorCommand::SetProvisioned { function_name, targets }) => {
                    let prefix = format!("{function_name}:");
                    for (key, pool) in pools.iter_mut() {
                        if key.starts_with(&prefix) {
                            pool.provisioned = None;
                        }
                    }
                    for target in targets {
                        let key = pool_key(&target.function.name, &target.function.version);
                        let pool = pools.entry(key).or_default();
                        if pool.revision_id != target.function.revision_id {
                            pool.revision_id = target.function.revision_id.clone();
                            pool.idle.clear();
                            pool.provisioned_alive = 0;
                            pool.provisioned_ready = 0;
                        }
                        pool.provisioned = Some(target);
                        pool.provisioned_failed = false;
                    }
                    for (key, pool) in pools.iter_mut() {
                        if key.starts_with(&prefix) {
                            pool.shed_provisioned();
                            replenish(&config, key, pool, &started_sender);
                        }
                    }
                    concurrency.count_provisioned(&pools);
                }
                Some(ExecutorCommand::ProvisionedReady { function_name, version, reply }) => {
                    let status = pools
                        .get(&pool_key(&function_name, &version))
                        .map_or(ProvisionedStatus::default(), |pool| ProvisionedStatus {
                            ready: pool.provisioned_ready,
                            failed: pool.provisioned_failed,
                        });
                    let _ = reply.send(status);
                }
                Some(ExecutorCommand::FunctionDeleted { name }) => {
                    let prefix = format!("{name}:");
                    for (key, pool) in pools.iter_mut() {
                        if key.starts_with(&prefix) {
                            pool.idle.clear();
                            pool.revision_id.clear();
                            pool.provisioned = None;
                            pool.provisioned_alive = 0;
                            pool.provisioned_ready = 0;
                        }
                    }
                    concurrency.count_provisioned(&pools);
                }
                Some(ExecutorCommand::Shutdown { reply }) => {
                    for pool in pools.values_mut() {
                        pool.idle.clear();
                        pool.provisioned = None;
                        for waiting in pool.waiting.drain(..) {
                            let _ = waiting.call.reply.send(Err(ExecutorError::ShuttingDown));
                        }
                    }
                    waiting_keys.clear();
                    shutdown = Some(reply);
                }
                None => return,
            },
            _ = reaper.tick() => {
                let idle_timeout = config.idle_timeout;
                for (key, pool) in pools.iter_mut() {
                    pool.idle.retain(|instance| {
                        instance.provisioned || instance.last_used.elapsed() < idle_timeout
                    });
                    // Provisioned instances that failed to start are tried again.
                    if shutdown.is_none() {
                        replenish(&config, key, pool, &started_sender);
                    }
                }
                pools.retain(|_, pool| {
                    pool.busy > 0
                        || !pool.idle.is_empty()
                        || !pool.waiting.is_empty()
                        || !pool.revision_id.is_empty()
                        || pool.provisioned.is_some()
                });
            }
        }
        if shutdown.is_some() && pools.values().all(|pool| pool.busy == 0) {
            pools.clear();
            // Refuse whatever arrived while draining.
            commands.close();
            while let Ok(command) = commands.try_recv() {
                if let ExecutorCommand::Invoke { reply, .. } = command {
                    let _ = reply.send(Err(ExecutorError::ShuttingDown));
                }
            }
            if let Some(reply) = shutdown.take() {
                let _ = reply.send(());
            }
            return;
        }
    }
}

/// One invocation and where its outcome goes.
#[derive(Debug)]
struct Call {
    request: Box<InvocationRequest>,
    reply: Reply,
}

/// Starts invocations on their own tasks.
struct Dispatcher {
    config: Arc<ExecutorConfig>,
    released: mpsc::UnboundedSender<Released>,
    initialized: mpsc::UnboundedSender<String>,
}

/// An instance starting for an invocation: when dropped — once it has
/// initialized, or failed to — the actor hears of it, by pool key.
struct Starting {
    key: String,
    initialized: mpsc::UnboundedSender<String>,
}

impl Drop for Starting {
    fn drop(&mut self) {
        let _ = self.initialized.send(std::mem::take(&mut self.key));
    }
}

impl Dispatcher {
    /// Runs an invocation on `idle`, or on a new instance, once it has a
    /// concurrency slot (one a provisioned instance serves needs none: that
    /// instance is its slot); a limit reached answers it throttled.
    fn dispatch(
        &self,
        concurrency: &mut Concurrency,
        key: &str,
        pool: &mut Pool,
        call: Call,
        idle: Option<Instance>,
    ) {
        let Call { request, reply } = call;
        let function_name = request.function.name.clone();
        let reserved = request.reserved_concurrency.is_some();
        let queued = request.scale_out == ScaleOut::Paced;
        let provisioned = idle.as_ref().is_some_and(|instance| instance.provisioned);
        let counted = !provisioned;
        if counted
            && let Err(reason) = concurrency.acquire(&function_name, request.reserved_concurrency)
        {
            if let Some(instance) = idle {
                pool.idle.push(instance);
            }
            self.config.metrics.record_throttle(&function_name);
            let _ = reply.send(Err(ExecutorError::Throttled(reason)));
            return;
        }
        self.config.metrics.execution_started(&function_name);
        pool.busy += 1;
        if queued {
            pool.queued_busy += 1;
        }
        let starting = idle.is_none().then(|| {
            pool.starting += 1;
            Starting {
                key: key.to_string(),
                initialized: self.initialized.clone(),
            }
        });
        let config = self.config.clone();
        let released = self.released.clone();
        let key = key.to_string();
        tokio::spawn(async move {
            let cold_start = idle.is_none();
            let result = instance::run(&config, idle, &request, move || drop(starting)).await;
            let (outcome, duration_ms) = match &result {
                Ok((outcome, _)) => (outcome_of(outcome), Some(outcome.report.duration_ms)),
                Err(_) => (Outcome::PlatformError, None),
            };
            config
                .metrics
                .execution_finished(&function_name, outcome, duration_ms, cold_start);
            let (outcome, instance) = match result {
                Ok((outcome, instance)) => (Ok(outcome), instance),
                Err(error) => (Err(error), None),
            };
            // Released before the caller hears back, so that its next
            // invocation can reuse this instance.
            let _ = released.send(Released {
                key,
                function_name,
                reserved,
                counted,
                provisioned,
                queued,
                instance,
            });
            let _ = reply.send(outcome);
        });
    }

    /// Hands instances to the invocations waiting for this version, oldest
    /// first, as [`Pool::choose`] decides.
    fn serve_waiting(
        &self,
        concurrency: &mut Concurrency,
        key: &str,
        pool: &mut Pool,
        now: Instant,
    ) {
        while let Some(serve) = pool.choose(now, !pool.idle.is_empty()) {
            if matches!(serve, Serve::Grow | Serve::New) {
                pool.last_scale_out = Some(now);
                pool.queued_window = pool.queued_window.max(pool.queued_busy + 1);
            }
            let idle = match serve {
                Serve::Idle | Serve::Grow => pool.take_idle(),
                Serve::New => None,
            };
            if let Some(waiting) = pool.waiting.pop_front() {
                self.dispatch(concurrency, key, pool, waiting.call, idle);
            }
        }
    }
}

/// What the oldest waiting invocation runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Serve {
    /// An idle instance, within the queued window.
    Idle,
    /// An idle instance, one more than the window held: it grows.
    Grow,
    /// A new instance.
    New,
}

/// How an invocation that ran ended, for the metrics.
fn outcome_of(outcome: &InvocationOutcome) -> Outcome {
    match (&outcome.function_error, outcome.report.status.as_deref()) {
        (None, _) => Outcome::Success,
        (Some(_), None) => Outcome::FunctionError,
        (Some(_), Some("timeout")) => Outcome::Timeout,
        (Some(_), Some(_)) => Outcome::RuntimeError,
    }
}

/// Idle and busy instances per function, all versions together, by name.
fn instances_by_function(pools: &HashMap<String, Pool>) -> Vec<FunctionInstances> {
    let mut by_function: std::collections::BTreeMap<&str, FunctionInstances> =
        std::collections::BTreeMap::new();
    for (key, pool) in pools {
        let name = key.rsplit_once(':').map_or(key.as_str(), |(name, _)| name);
        let entry = by_function
            .entry(name)
            .or_insert_with(|| FunctionInstances {
                function_name: name.to_string(),
                idle: 0,
                busy: 0,
            });
        entry.idle += pool.idle.len() as u32;
        entry.busy += pool.busy as u32;
    }
    by_function.into_values().collect()
}

/// Starts provisioned instances until as many as asked for exist.
fn replenish(
    config: &Arc<ExecutorConfig>,
    key: &str,
    pool: &mut Pool,
    started: &mpsc::UnboundedSender<ProvisionedStarted>,
) {
    let Some(target) = &pool.provisioned else {
        return;
    };
    while pool.provisioned_alive < target.count {
        pool.provisioned_alive += 1;
        let config = config.clone();
        let function = target.function.clone();
        let started = started.clone();
        let key = key.to_string();
        tokio::spawn(async move {
            let instance = instance::start_provisioned(&config, &function).await;
            let _ = started.send(ProvisionedStarted {
                key,
                revision_id: function.revision_id.clone(),
                instance,
            });
        });
    }
}

fn pool_key(name: &str, version: &str) -> String {
    format!("{name}:{version}")
}

fn reap_interval(idle_timeout: Duration) -> Duration {
    (idle_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes() {
        fn check(function_error: Option<&str>, status: Option<&str>, expected: Outcome) {
            let outcome = InvocationOutcome {
                payload: bytes::Bytes::new(),
                function_error: function_error.map(str::to_string),
                log_text: String::new(),
                executed_version: "$LATEST".to_string(),
                report: crate::Report {
                    duration_ms: 1.0,
                    billed_duration_ms: 1,
                    memory_size_mb: 128,
                    max_memory_used_mb: 1,
                    init_duration_ms: None,
                    status: status.map(str::to_string),
                    error_type: None,
                },
            };
            assert_eq!(
                outcome_of(&outcome),
                expected,
                "{function_error:?} {status:?}"
            );
        }
        check(None, None, Outcome::Success);
        check(Some("Unhandled"), None, Outcome::FunctionError);
        check(Some("Unhandled"), Some("timeout"), Outcome::Timeout);
        check(Some("Unhandled"), Some("error"), Outcome::RuntimeError);
    }

    /// An invocation of `revision_id` waiting since `since`.
    fn waiting(revision_id: &str, since: Instant) -> Waiting {
        let function = rayo_core::FunctionConfig {
            name: "f".to_string(),
            version: rayo_core::LATEST.to_string(),
            runtime: rayo_core::Runtime::Python { minor: 12 },
            handler: "app.handler".to_string(),
            role: "arn:aws:iam::000000000000:role/r".to_string(),
            description: String::new(),
            memory_size: 128,
            timeout: 3,
            environment: Default::default(),
            architectures: vec![rayo_core::Architecture::X86_64],
            ephemeral_storage_mb: 512,
            dead_letter_target_arn: None,
            code: rayo_core::CodeRef {
                sha256_hex: "sha".to_string(),
                size: 1,
            },
            layers: Vec::new(),
            last_modified: time::OffsetDateTime::UNIX_EPOCH,
            revision_id: revision_id.to_string(),
        };
        let request = InvocationRequest {
            function,
            invoked_function_arn: "arn:aws:lambda:us-east-1:000000000000:function:f".to_string(),
            request_id: "id".to_string(),
            payload: bytes::Bytes::new(),
            client_context: None,
            cognito_identity: None,
            trace_id: None,
            reserved_concurrency: None,
            scale_out: ScaleOut::Paced,
        };
        let (reply, _) = oneshot::channel();
        Waiting {
            call: Call {
                request: Box::new(request),
                reply,
            },
            since,
        }
    }

    #[test]
    fn queued_invocations_wait_for_busy_instances_and_scale_out_at_lambdas_rate() {
        let start = Instant::now();
        let ms = |n: u64| start + Duration::from_millis(n);
        let mut pool = Pool {
            revision_id: "r1".to_string(),
            busy: 2,
            ..Pool::default()
        };
        assert!(pool.choose(start, false).is_none(), "nothing waits");
        pool.waiting.push_back(waiting("r1", ms(0)));
        pool.waiting.push_back(waiting("r1", ms(1)));
        // Two instances are busy: the oldest waits for one of them...
        assert!(pool.choose(ms(49), false).is_none());
        assert_eq!(pool.next_scale_out(), Some(ms(50)));
        // ...until it has waited its patience: then the version grows.
        assert!(matches!(pool.choose(ms(50), false), Some(Serve::New)));
        pool.last_scale_out = Some(ms(50));
        pool.waiting.pop_front();
        pool.busy += 1;
        pool.starting += 1;
        // The next grows an interval after the last.
        assert_eq!(pool.next_scale_out(), Some(ms(60)));
        assert!(pool.choose(ms(59), false).is_none());
        // One starts while two serve: another may start.
        assert!(matches!(pool.choose(ms(60), false), Some(Serve::New)));
        // As many start as serve: the next waits for them, however long.
        pool.busy += 1;
        pool.starting += 1;
        assert!(pool.choose(ms(1000), false).is_none());
        pool.starting -= 1;
        assert!(matches!(pool.choose(ms(1000), false), Some(Serve::New)));
        // While the first instance starts, nothing else does.
        pool.busy = 1;
        pool.starting = 1;
        assert!(pool.choose(ms(1000), false).is_none());
        // With no instance busy, none will come back: it starts one at once.
        pool.busy = 0;
        pool.starting = 0;
        assert!(matches!(pool.choose(ms(2), false), Some(Serve::New)));
        // One of an older revision cannot use the version's instances.
        pool.busy = 3;
        pool.waiting.push_front(waiting("r0", ms(15)));
        assert!(matches!(pool.choose(ms(15), false), Some(Serve::New)));
    }

    #[test]
    fn queued_invocations_use_idle_instances_only_as_far_as_their_window() {
        let start = Instant::now();
        let ms = |n: u64| start + Duration::from_millis(n);
        // Eight instances, left warm by callers, one of them serving a
        // queued invocation; the window holds one.
        let mut pool = Pool {
            revision_id: "r1".to_string(),
            busy: 1,
            queued_busy: 1,
            queued_window: 1,
            ..Pool::default()
        };
        pool.waiting.push_back(waiting("r1", ms(0)));
        assert_eq!(pool.choose(ms(0), true), None, "the window is full");
        assert_eq!(pool.choose(ms(49), true), None);
        // Once the oldest has waited its patience, the window grows onto an
        // idle instance rather than a new one...
        assert_eq!(pool.choose(ms(50), true), Some(Serve::Grow));
        pool.last_scale_out = Some(ms(50));
        pool.queued_window = 2;
        pool.busy = 2;
        pool.queued_busy = 2;
        // ...at the version's rate.
        assert_eq!(pool.choose(ms(59), true), None);
        assert_eq!(pool.choose(ms(60), true), Some(Serve::Grow));
        // An instance back within the window serves the next at once.
        pool.busy = 1;
        pool.queued_busy = 1;
        assert_eq!(pool.choose(ms(51), true), Some(Serve::Idle));
        // With nothing waiting, the window narrows to what is used, plus one.
        pool.waiting.clear();
        pool.queued_window = 5;
        pool.queued_busy = 3;
        pool.queued_released();
        assert_eq!((pool.queued_busy, pool.queued_window), (2, 3));
        pool.queued_released();
        pool.queued_released();
        assert_eq!((pool.queued_busy, pool.queued_window), (0, 1));
        // Alone, a queued invocation takes an idle instance at once.
        pool.busy = 0;
        pool.waiting.push_back(waiting("r1", ms(100)));
        assert_eq!(pool.choose(ms(100), true), Some(Serve::Idle));
    }

    #[test]
    fn reserved_and_unreserved_limits() {
        let mut c = Concurrency {
            account_limit: 3,
            total_reserved: 1,
            ..Concurrency::default()
        };
        // One slot reserved for `r`; two shared by the rest.
        assert_eq!(c.acquire("r", Some(1)), Ok(()));
        assert_eq!(
            c.acquire("r", Some(1)),
            Err(ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded)
        );
        assert_eq!(c.acquire("a", None), Ok(()));
        assert_eq!(c.acquire("b", None), Ok(()));
        assert_eq!(
            c.acquire("a", None),
            Err(ThrottleReason::ConcurrentInvocationLimitExceeded)
        );
        c.release("a", false);
        assert_eq!(c.acquire("c", None), Ok(()));
        c.release("r", true);
        assert_eq!(c.acquire("r", Some(1)), Ok(()));
        assert_eq!(
            c.acquire("z", Some(0)),
            Err(ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded)
        );
    }

    #[test]
    fn provisioned_concurrency_is_kept_out_of_on_demand_slots() {
        let mut c = Concurrency {
            account_limit: 4,
            total_reserved: 2,
            // One provisioned instance of an unreserved function: one
            // unreserved slot is left for on-demand invocations.
            unreserved_provisioned: 1,
            ..Concurrency::default()
        };
        c.reserved_provisioned.insert("r".to_string(), 1);
        assert_eq!(c.acquire("a", None), Ok(()));
        assert_eq!(
            c.acquire("b", None),
            Err(ThrottleReason::ConcurrentInvocationLimitExceeded)
        );
        // `r` reserves 2, one of them provisioned: one on-demand slot.
        assert_eq!(c.acquire("r", Some(2)), Ok(()));
        assert_eq!(
            c.acquire("r", Some(2)),
            Err(ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded)
        );
    }
}
