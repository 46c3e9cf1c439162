//! Worker threads: take runnable instances, run them until their mailbox is
//! empty (or their turn is up), route what their JavaScript asked for.
//!
//! With `SchedulerConfig::pin_workers` each worker is pinned to a CPU of its
//! own (of those the process may run on). Unpinned, the kernel's wake-up
//! placement put both workers of a 2-CPU machine on one CPU for several
//! milliseconds at a time while the other idled (seen with
//! `perf sched timehist`: a new instance's backlog then ran on half the
//! machine). Pinned, load moves between CPUs only by moving instances
//! between workers, which is what the run queues are for. On by default,
//! and taken only when the workers cover every CPU the process may use
//! ([`owns_its_cpus`]).
//!
//! Beside the workers run the *backfill* threads (one per worker, with
//! partitioning): they take only long-class instances and run at the
//! kernel's idle priority (`SCHED_IDLE`), so long work uses every core no
//! short work needs, and a worker woken for short work takes its core back
//! at once (the kernel preempts an idle-priority thread on the wake-up).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::engine::{CallId, Effect, Event, Fault, InvocationId, JsError, Payload, StoreRequest};
use crate::outbound::{self, Owner};

use super::instance::{Class, Core, Inflight, Instance};
use super::mailbox::{Message, ReplyTo};
use super::park::Parker;
use super::queue::{LocalQueue, Runnable};
use super::{MAX_CALL_DEPTH, Shared, idle::SPIN_POLLS};

/// How long an instance runs per turn before it goes to the back of the
/// queue (if it has more messages), so one flooded instance cannot starve
/// the others on its worker. A turn ends at the first message boundary
/// past it: a long invocation (one segment of 20 ms) is one turn, and
/// short work (tens of µs per message) takes a worker for about this long.
/// About the 128 messages of a trivial method the turn was once counted in.
pub(crate) const TURN_SLICE: Duration = Duration::from_millis(1);

/// A worker checks the global injector before its own deque once every
/// this many instances, so injected work is not starved by local work.
/// (tokio uses 61 for locality; here a long-running neighbour can keep a
/// worker's deque from draining, and measured stalls of 0.1–0.5 s with 61
/// went away with a check every turn or two.)
const INJECTOR_INTERVAL: u32 = 2;

/// A busy worker polls the sockets (without blocking) once every this many
/// runnables, so requests are read even when no worker sleeps in the
/// reactor. A poll is one `epoll_wait` system call; a hello-world request
/// is two or three runnables.
const IO_POLL_INTERVAL: u32 = 8;

/// The least CPU budget a segment gets, so an invocation that has used up
/// its budget is still interrupted promptly rather than at once.
const MIN_SEGMENT_BUDGET: Duration = Duration::from_millis(1);

thread_local! {
    /// The local queue of the worker running on this thread, tagged with
    /// its scheduler's id (a process may run several schedulers: tests).
    static LOCAL: RefCell<Option<(usize, Rc<LocalQueue>)>> = const { RefCell::new(None) };
}

/// Pushes onto this thread's local queue if it is a worker of scheduler
/// `id`, returning how many runnables were queued there before; gives the
/// runnable back otherwise.
pub(crate) fn push_local(id: usize, runnable: Runnable) -> Result<usize, Runnable> {
    LOCAL.with(|local| match &*local.borrow() {
        Some((sid, queue)) if *sid == id => Ok(queue.push(runnable)),
        _ => Err(runnable),
    })
}

/// The index of the worker running on this thread, if it is one (for
/// traces).
pub(crate) fn current_worker() -> Option<usize> {
    LOCAL.with(|local| local.borrow().as_ref().map(|(_, q)| q.index()))
}

/// The body of a worker thread.
pub(crate) fn run(shared: Arc<Shared>, local: LocalQueue, parker: Parker) {
    let local = Rc::new(local);
    let index = local.index();
    if shared.pin_workers {
        pin(&shared, index);
    }
    LOCAL.with(|l| *l.borrow_mut() = Some((shared.id, local.clone())));
    let mut tick: u32 = 0;
    let mut polls: u32 = 0;
    while !shared.shutdown.load(Ordering::Acquire) {
        tick = tick.wrapping_add(1);
        if tick.is_multiple_of(IO_POLL_INTERVAL) {
            shared.reactor.try_poll();
        }
        let takes_long = index < shared.long_workers.load(Ordering::Relaxed);
        let next = if takes_long {
            let long = shared.queue.pop_long();
            if long.is_some() {
                // About to run long work: hand the short work queued here
                // to the injector, where any worker can take it, instead
                // of leaving it behind a long turn.
                while let Some(short) = local.pop() {
                    shared.queue.inject(short);
                }
                shared.idle.notify_one();
            }
            long
        } else {
            None
        }
        .or_else(|| {
            if tick.is_multiple_of(INJECTOR_INTERVAL) {
                shared.queue.pop_injected().or_else(|| local.pop())
            } else {
                local.pop()
            }
        })
        .or_else(|| shared.queue.steal_for(&local));
        match next {
            Some(runnable) => {
                polls = 0;
                let stats = &shared.workers[index];
                // Odd while running: see `monitor.rs`.
                stats.runs.fetch_add(1, Ordering::Release);
                stats.begin(shared.now_ns());
                match runnable {
                    Runnable::Instance(instance) => {
                        instance.ran_on(index);
                        shared.running.fetch_add(1, Ordering::Relaxed);
                        run_instance(&shared, instance);
                        shared.running.fetch_sub(1, Ordering::Relaxed);
                    }
                    Runnable::Task(task) => task.run(&shared),
                }
                stats.end(shared.now_ns());
                stats.runs.fetch_add(1, Ordering::Release);
            }
            None if polls < SPIN_POLLS => {
                polls += 1;
                std::hint::spin_loop();
                if polls.is_multiple_of(16) && shared.reactor.try_poll() == 0 {
                    std::thread::yield_now();
                }
            }
            None => {
                polls = 0;
                shared.idle.sleep(index, &parker, || {
                    shared.queue.has_work(takes_long) || shared.shutdown.load(Ordering::Acquire)
                });
            }
        }
    }
    LOCAL.with(|l| *l.borrow_mut() = None);
    local.clear();
}

/// Pins worker `index` to a CPU of its own if the workers cover every CPU
/// the process may use (see [`owns_its_cpus`]).
fn pin(shared: &Shared, index: usize) {
    let cpus = match crate::cpu_clock::allowed_cpus() {
        Ok(cpus) => cpus,
        Err(e) => {
            tracing::warn!(worker = index, "worker not pinned: {e}");
            return;
        }
    };
    if !owns_its_cpus(shared.worker_count, cpus.len()) {
        tracing::debug!(
            worker = index,
            workers = shared.worker_count,
            cpus = cpus.len(),
            "worker not pinned: fewer workers than CPUs, which other processes may be using"
        );
        return;
    }
    // Worker i of scheduler s on the (s + i)-th allowed CPU: one
    // scheduler's workers on distinct CPUs, several schedulers in one
    // process (tests) spread rather than all on the first.
    match crate::cpu_clock::pin_to_nth_cpu(shared.id + index) {
        Ok(cpu) => tracing::debug!(worker = index, cpu, "worker pinned"),
        Err(e) => tracing::warn!(worker = index, "worker not pinned: {e}"),
    }
}

/// Whether `workers` workers may pin themselves among `cpus` allowed CPUs:
/// only when they cover them all (the default worker count, or `taskset`
/// narrowing the process to its workers). With fewer workers than CPUs the
/// process shares the machine (`--workers 1` for each of several apps, a
/// container's quota below its cpuset), and it cannot know which CPUs the
/// others use: every such process would pin onto the first ones.
pub(crate) fn owns_its_cpus(workers: usize, cpus: usize) -> bool {
    workers >= cpus
}

/// The body of a backfill thread (see the module docs): long-class
/// instances only, at idle priority.
pub(crate) fn backfill(shared: Arc<Shared>, slot: usize, index: usize, parker: Parker) {
    if let Err(e) = crate::cpu_clock::lower_to_idle_priority() {
        // Still correct, only without the kernel's preference for short
        // work on a shared core.
        tracing::warn!("backfill thread keeps normal priority: {e}");
    }
    let mut polls: u32 = 0;
    while !shared.shutdown.load(Ordering::Acquire) {
        match shared.queue.pop_long() {
            Some(runnable) => {
                polls = 0;
                let stats = &shared.backfill[slot];
                stats.begin(shared.now_ns());
                match runnable {
                    Runnable::Instance(instance) => run_instance(&shared, instance),
                    Runnable::Task(task) => task.run(&shared),
                }
                stats.end(shared.now_ns());
            }
            None if polls < SPIN_POLLS / 4 => {
                polls += 1;
                std::hint::spin_loop();
            }
            None => {
                polls = 0;
                shared.idle.sleep(index, &parker, || {
                    shared.queue.has_long() || shared.shutdown.load(Ordering::Acquire)
                });
            }
        }
    }
}

/// Runs one instance for one turn: its messages one at a time until the
/// mailbox is empty or the turn has lasted [`TURN_SLICE`].
fn run_instance(shared: &Arc<Shared>, instance: Arc<Instance>) {
    let mut guard = instance.core();
    let long = is_long(&instance);
    if long {
        shared.running_long.fetch_add(1, Ordering::Relaxed);
    }
    let mut effects = Vec::new();
    let turn = Instant::now();
    if let Some(core) = guard.as_mut() {
        expire(shared, &instance, core, turn);
    }
    loop {
        let Some(message) = instance.mailbox.pop() else {
            break;
        };
        run_message(shared, &instance, &mut guard, message, &mut effects);
        let now = Instant::now();
        if now.duration_since(turn) >= TURN_SLICE {
            if let Some(core) = guard.as_mut() {
                expire(shared, &instance, core, now);
            }
            if instance.mailbox.len() > 0 {
                // Keep the schedule token; requeue at the back of the
                // global queue, so any worker may continue it.
                drop(guard);
                if long {
                    shared.running_long.fetch_sub(1, Ordering::Relaxed);
                }
                shared.requeue(Runnable::Instance(instance));
                return;
            }
        }
    }
    if long {
        shared.running_long.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Hands one message to the instance's isolate and routes what it did.
fn run_message(
    shared: &Arc<Shared>,
    instance: &Arc<Instance>,
    guard: &mut Option<Core>,
    message: Message,
    effects: &mut Vec<Effect>,
) {
    let Some(core) = guard.as_mut() else {
        // Dead instance: fail what arrives.
        refuse(shared, instance, message);
        return;
    };
    let Some((event, owner)) = prepare(shared, instance, core, message) else {
        return;
    };
    let timer_span = match &event {
        Event::Timer { id } => core.spans.fired(*id),
        _ => None,
    };
    let budget = owner
        .and_then(|id| core.inflight.get(&id))
        .map_or(instance.spec.isolate.cpu_budget, |i| {
            instance.spec.isolate.cpu_budget.saturating_sub(i.cpu)
        })
        .max(MIN_SEGMENT_BUDGET);
    // Timed on the monotonic clock (a vDSO read); the thread CPU
    // clock is a system call and is read only by the watchdog
    // that enforces the budget (see `engine/watchdog.rs`). Except for
    // long-class instances: their segments are long (two system calls
    // are nothing), and they run at idle priority on backfill threads,
    // preempted by short work, which wall time would charge them for.
    let long = is_long(instance);
    let start = Instant::now();
    let cpu_start = long.then(crate::cpu_clock::thread_cpu_time);
    let outcome = core.isolate.handle(event, budget, effects);
    let cpu = match cpu_start {
        Some(s) => crate::cpu_clock::thread_cpu_time().saturating_sub(s),
        None => start.elapsed(),
    };
    if let Some(i) = owner.and_then(|id| core.inflight.get_mut(&id)) {
        i.cpu += cpu;
        i.stats.charge(cpu);
        if let Some(t) = &mut i.trace {
            t.segment(start, current_worker());
        }
    }
    if let Some(t) = timer_span {
        let service = &instance.spec.isolate.service;
        t.ran(start, cpu, current_worker(), service, instance.id);
    }
    match outcome {
        Ok(()) => route(shared, instance, core, effects),
        Err(fault) if fault.keeps_isolate() => {
            // Only this segment's invocation overran: fail it, keep
            // the isolate and everything else in flight in it.
            route(shared, instance, core, effects);
            stopped(shared, instance, core, owner, fault);
        }
        Err(fault) => {
            // What JavaScript did in a faulted segment is suspect
            // (it may have caught its own out-of-memory error):
            // drop it, and fail everything in flight.
            effects.clear();
            recover(shared, instance, guard, owner, fault);
        }
    }
}

/// Turns a message into an event for the isolate, with the invocation it
/// runs for; `None` when there is nothing to run.
fn prepare(
    shared: &Arc<Shared>,
    instance: &Arc<Instance>,
    core: &mut Core,
    message: Message,
) -> Option<(Event, Option<InvocationId>)> {
    match message {
        Message::Invoke { arg, inflight } => {
            if inflight.deadline <= Instant::now() {
                // It waited in the queue past its deadline: don't start it.
                timed_out(shared, instance, inflight);
                return None;
            }
            let method = inflight.method.clone();
            let id = core.begin(inflight);
            Some((Event::Invoke { id, method, arg }, Some(id)))
        }
        Message::Reply { call, result } => {
            let service = &instance.spec.isolate.service;
            core.spans
                .replied(call, result.as_ref().map(|_| ()), service, instance.id);
            if let Some((inflight, held)) = core.write_acknowledged(call) {
                answer(shared, instance, inflight, held);
            }
            let owner = core.owner_of(call);
            // A reply that comes at the deadline (an outbound fetch aborted
            // by it) must not answer first: the invocation timed out.
            if let Some(id) = owner
                && core
                    .inflight
                    .get(&id)
                    .is_some_and(|i| i.deadline <= Instant::now())
                && let Some(inflight) = core.inflight.remove(&id)
            {
                timed_out(shared, instance, inflight);
            }
            Some((Event::Reply { call, result }, owner))
        }
        Message::Timer(id) => Some((Event::Timer { id }, None)),
    }
}

/// Acts on the effects an isolate produced.
fn route(
    shared: &Arc<Shared>,
    instance: &Arc<Instance>,
    core: &mut Core,
    effects: &mut Vec<Effect>,
) {
    for effect in effects.drain(..) {
        match effect {
            Effect::Call {
                call,
                parent,
                service,
                method,
                arg,
            } => {
                core.track_call(call, parent);
                let parent = parent.and_then(|p| core.inflight.get(&p));
                let depth = parent.map_or(0, |i| i.depth) + 1;
                let deadline = parent.map(|i| i.deadline);
                let trace = parent.and_then(|i| i.trace.as_ref()).map(|t| t.child());
                let reply = ReplyTo::Caller {
                    instance: instance.clone(),
                    call,
                };
                if depth > MAX_CALL_DEPTH {
                    let error = JsError::new(
                        "RangeError",
                        format!(
                            "call chain too deep: {service}.{method} would be call number {depth} \
                             in one chain (limit {MAX_CALL_DEPTH}); is there a cycle of calls \
                             between services?"
                        ),
                    );
                    shared.reply(reply, Err(error));
                    continue;
                }
                shared.invoke(&service, method, arg, reply, depth, deadline, trace);
            }
            Effect::Complete { id, result } => {
                if let Some((inflight, result)) = core.complete(id, result) {
                    answer(shared, instance, inflight, result);
                }
            }
            Effect::Store {
                call,
                parent,
                store,
                request,
            } => {
                core.track_call(call, parent);
                if matches!(request, StoreRequest::Write(_)) {
                    core.track_write(call, parent);
                }
                if let Some(link) = core.trace_of(parent).map(|t| t.child()) {
                    let start = Instant::now();
                    core.spans
                        .store(&link, call, &store, &request, start, current_worker());
                }
                // The invocation's deadline bounds a store on a database
                // server (as a fetch); outside any, the service's timeout.
                let deadline = parent
                    .and_then(|p| core.inflight.get(&p))
                    .map_or_else(|| Instant::now() + instance.spec.timeout, |i| i.deadline);
                shared.store(instance, call, &store, request, deadline);
            }
            Effect::SetTimer { id, delay, parent } => {
                if let Some(link) = core.trace_of(parent).map(|t| t.child()) {
                    core.spans.timer(&link, id, delay);
                }
                if let Some(timers) = shared.timers.get() {
                    timers.arm(instance, id, delay);
                }
            }
            Effect::ClearTimer { id } => core.spans.cleared(id),
            Effect::Fetch {
                call,
                parent,
                mut request,
            } => {
                core.track_call(call, parent);
                if let Some(link) = core.trace_of(parent).map(|t| t.child()) {
                    core.spans
                        .fetch(&link, call, &mut request, current_worker());
                }
                // The invocation's deadline; a fetch made outside any (a
                // timer armed at top level) gets the service's timeout.
                let deadline = parent
                    .and_then(|p| core.inflight.get(&p))
                    .map_or_else(|| Instant::now() + instance.spec.timeout, |i| i.deadline);
                let owner = Owner {
                    instance: instance.id,
                    invocation: parent,
                };
                shared.outbound.fetch(
                    owner,
                    call,
                    &instance.spec.fetch,
                    request,
                    deadline,
                    replier(shared, instance, call),
                );
            }
            Effect::FetchBody {
                call,
                parent,
                response,
            } => {
                core.track_call(call, parent);
                shared
                    .outbound
                    .read_body(response, replier(shared, instance, call));
            }
            Effect::CancelFetch { response } => shared.outbound.cancel(response),
            Effect::Ended { id } => shared.outbound.end(Owner {
                instance: instance.id,
                invocation: Some(id),
            }),
        }
    }
}

/// Delivers the completion of an outbound request to `instance` as the
/// reply to `call` (from the outbound client's threads, or at once).
fn replier(shared: &Arc<Shared>, instance: &Arc<Instance>, call: CallId) -> outbound::Done {
    let shared = Arc::downgrade(shared);
    let instance = instance.clone();
    Box::new(move |result| {
        if let Some(shared) = shared.upgrade() {
            shared.deliver(&instance, Message::Reply { call, result });
        }
    })
}

/// Sends a finished invocation's result to whoever waits for it.
fn answer(
    shared: &Arc<Shared>,
    instance: &Arc<Instance>,
    mut inflight: Inflight,
    result: Result<Payload, JsError>,
) {
    instance.sub_load(1);
    if let Some(t) = inflight.trace.take() {
        (*t).finish(
            &instance.spec.isolate.service,
            &inflight.method,
            instance.id,
            inflight.placed,
            inflight.cpu,
            result.as_ref().err(),
        );
    }
    inflight.stats.finished(inflight.cpu, result.is_ok());
    shared.observe(&inflight);
    let result = result.map_err(|e| e.at(&instance.spec.name, &inflight.method));
    shared.reply(inflight.reply, result);
}

/// Fails an invocation whose deadline passed.
pub(crate) fn timed_out(shared: &Arc<Shared>, instance: &Arc<Instance>, inflight: Inflight) {
    let service = &instance.spec.name;
    let error = JsError::new(
        "TimeoutError",
        format!(
            "{service}.{}: no result within its deadline ({} ms after it started, including the \
             time of the calls that led to it)",
            inflight.method,
            inflight
                .deadline
                .saturating_duration_since(inflight.placed)
                .as_millis()
        ),
    );
    answer(shared, instance, inflight, Err(error));
}

/// Fails the invocations of `core` whose deadline passed. Their JavaScript
/// may still run to completion; its result is then dropped.
pub(crate) fn expire(
    shared: &Arc<Shared>,
    instance: &Arc<Instance>,
    core: &mut Core,
    now: Instant,
) {
    for inflight in core.overdue(now) {
        timed_out(shared, instance, inflight);
    }
}

/// Fails the invocation whose run segment was stopped (its CPU budget ran
/// out); the isolate carries on.
fn stopped(
    shared: &Arc<Shared>,
    instance: &Arc<Instance>,
    core: &mut Core,
    owner: Option<InvocationId>,
    fault: Fault,
) {
    let service = &instance.spec.name;
    let fault = match fault {
        // Report the invocation's budget, not what was left of it.
        Fault::CpuBudget { .. } => Fault::CpuBudget {
            budget: instance.spec.isolate.cpu_budget,
        },
        other => other,
    };
    shared.faults.fetch_add(1, Ordering::Relaxed);
    if let Some(id) = owner {
        // Its fetches go with it.
        shared.outbound.end(Owner {
            instance: instance.id,
            invocation: Some(id),
        });
    }
    match owner.and_then(|id| core.inflight.remove(&id)) {
        Some(inflight) => {
            tracing::error!(
                service = %service,
                instance = instance.id,
                method = %inflight.method,
                "stopped an invocation: {fault} (the instance keeps serving)"
            );
            let error = JsError::new("Error", format!("{service}.{}: {fault}", inflight.method));
            answer(shared, instance, inflight, Err(error));
        }
        None => tracing::error!(
            service = %service,
            instance = instance.id,
            "stopped a timer callback: {fault} (the instance keeps serving)"
        ),
    }
}

/// Fails every invocation in flight in a faulted instance and replaces its
/// isolate.
fn recover(
    shared: &Arc<Shared>,
    instance: &Arc<Instance>,
    guard: &mut Option<Core>,
    owner: Option<InvocationId>,
    fault: Fault,
) {
    let service = &instance.spec.name;
    let fault = match fault {
        // Report the invocation's budget, not what was left of it.
        Fault::CpuBudget { .. } => Fault::CpuBudget {
            budget: instance.spec.isolate.cpu_budget,
        },
        other => other,
    };
    tracing::error!(service = %service, instance = instance.id, "discarding isolate: {fault}");
    shared.faults.fetch_add(1, Ordering::Relaxed);
    shared.outbound.end_instance(instance.id);
    if let Some(core) = guard.as_mut() {
        // The invocation that faulted says what happened; the others, that
        // they were collateral, and why.
        let culprit = owner.and_then(|id| core.inflight.remove(&id));
        if let Some(inflight) = culprit {
            let error = JsError::new("Error", format!("{service}.{}: {fault}", inflight.method));
            answer(shared, instance, inflight, Err(error));
        }
        for inflight in core.drain_unanswered() {
            let error = JsError::new(
                "Error",
                format!(
                    "{service}.{}: the instance {} was discarded because another invocation in \
                     it failed ({fault}); this invocation was lost with it, retry it",
                    inflight.method, instance.id
                ),
            );
            answer(shared, instance, inflight, Err(error));
        }
    }
    match shared.engine.instantiate(&instance.spec.isolate) {
        Ok(isolate) => *guard = Some(Core::new(isolate)),
        Err(e) => {
            tracing::error!(service = %service, instance = instance.id, "cannot replace isolate: {e}");
            *guard = None;
            if let Some(pool) = shared.generation.load().services.get(service) {
                pool.remove(instance);
            }
            for pool in shared.retired.lock().iter() {
                pool.remove(instance);
            }
        }
    }
}

/// Answers a message that reached a dead instance.
fn refuse(shared: &Arc<Shared>, instance: &Arc<Instance>, message: Message) {
    if let Message::Invoke { inflight, .. } = message {
        let error = JsError::new(
            "Error",
            format!(
                "{}.{}: the instance is gone and could not be restarted",
                instance.spec.name, inflight.method
            ),
        );
        answer(shared, instance, inflight, Err(error));
    }
}

/// Whether instances of this class go to the long queue.
pub(crate) fn is_long(instance: &Instance) -> bool {
    instance.class == Class::Long
}

#[cfg(test)]
mod tests {
    use super::owns_its_cpus;

    #[test]
    fn workers_pin_only_when_they_cover_every_allowed_cpu() {
        assert!(owns_its_cpus(2, 2), "the default: one worker per CPU");
        assert!(owns_its_cpus(1, 1), "`taskset -c 3` with one worker");
        assert!(owns_its_cpus(4, 2), "more workers than CPUs share them");
        assert!(!owns_its_cpus(1, 2), "`--workers 1` on two CPUs");
        assert!(!owns_its_cpus(2, 64), "a quota of 2 in a cpuset of 64");
    }
}
