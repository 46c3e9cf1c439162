//! Worker threads: take runnable instances, run them until their mailbox is
//! empty (or their turn is up), route what their JavaScript asked for.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crossbeam_utils::sync::Parker;

use crate::engine::{Effect, Event, Fault, JsError, StoreRequest};

use super::instance::{Core, Inflight, Instance};
use super::mailbox::{Message, ReplyTo};
use super::queue::LocalQueue;
use super::{MAX_CALL_DEPTH, Shared, idle::SPIN_POLLS};

/// Messages an instance handles per turn before it goes to the back of the
/// queue, so one flooded instance cannot starve the others on its worker.
const TURN_BUDGET: usize = 128;

/// A worker checks the global injector before its own deque once every
/// this many instances, so injected work is not starved by local work.
const INJECTOR_INTERVAL: u32 = 61;

thread_local! {
    /// The local queue of the worker running on this thread, tagged with
    /// its scheduler's id (a process may run several schedulers: tests).
    static LOCAL: RefCell<Option<(usize, Rc<LocalQueue>)>> = const { RefCell::new(None) };
}

/// Pushes onto this thread's local queue if it is a worker of scheduler
/// `id`; gives the instance back otherwise.
pub(crate) fn push_local(id: usize, instance: Arc<Instance>) -> Result<(), Arc<Instance>> {
    LOCAL.with(|local| match &*local.borrow() {
        Some((sid, queue)) if *sid == id => {
            queue.push(instance);
            Ok(())
        }
        _ => Err(instance),
    })
}

/// The body of a worker thread.
pub(crate) fn run(shared: Arc<Shared>, local: LocalQueue, parker: Parker) {
    let local = Rc::new(local);
    LOCAL.with(|l| *l.borrow_mut() = Some((shared.id, local.clone())));
    let mut tick: u32 = 0;
    let mut polls: u32 = 0;
    while !shared.shutdown.load(Ordering::Acquire) {
        tick = tick.wrapping_add(1);
        let next = if tick.is_multiple_of(INJECTOR_INTERVAL) {
            shared.queue.pop_injected().or_else(|| local.pop())
        } else {
            local.pop()
        }
        .or_else(|| shared.queue.steal_for(&local));
        match next {
            Some(instance) => {
                polls = 0;
                run_instance(&shared, instance);
            }
            None if polls < SPIN_POLLS => {
                polls += 1;
                std::hint::spin_loop();
                if polls.is_multiple_of(16) {
                    std::thread::yield_now();
                }
            }
            None => {
                polls = 0;
                shared.idle.sleep(local.index(), &parker, || {
                    shared.queue.has_work() || shared.shutdown.load(Ordering::Acquire)
                });
            }
        }
    }
    LOCAL.with(|l| *l.borrow_mut() = None);
}

/// Runs one instance for one turn.
fn run_instance(shared: &Arc<Shared>, instance: Arc<Instance>) {
    let mut guard = instance.core();
    let mut handled = 0;
    let mut effects = Vec::new();
    while let Some(batch) = instance.mailbox.take() {
        for message in batch {
            handled += 1;
            let Some(core) = guard.as_mut() else {
                // Dead instance: fail what arrives.
                refuse(shared, &instance, message);
                continue;
            };
            let event = match message {
                Message::Invoke {
                    method,
                    arg,
                    reply,
                    depth,
                } => {
                    let id = core.begin(Inflight {
                        reply,
                        depth,
                        method: method.clone(),
                    });
                    Event::Invoke { id, method, arg }
                }
                Message::Reply { call, result } => {
                    if let Some((inflight, held)) = core.write_acknowledged(call) {
                        answer(shared, &instance, inflight, held);
                    }
                    Event::Reply { call, result }
                }
                Message::Timer(id) => Event::Timer { id },
            };
            match core.isolate.handle(event, &mut effects) {
                Ok(()) => route(shared, &instance, core, &mut effects),
                Err(fault) => {
                    // What JavaScript did in a faulted segment is suspect
                    // (it may have caught its own out-of-memory error):
                    // drop it, and fail everything in flight.
                    effects.clear();
                    recover(shared, &instance, &mut guard, fault);
                }
            }
        }
        if handled >= TURN_BUDGET {
            if instance.mailbox.len() > 0 {
                // Keep the schedule token; requeue at the back.
                drop(guard);
                shared.schedule(instance);
                return;
            }
            handled = 0;
        }
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
                let depth = parent
                    .and_then(|p| core.inflight.get(&p))
                    .map_or(0, |i| i.depth)
                    + 1;
                let reply = ReplyTo::Caller {
                    instance: instance.clone(),
                    call,
                };
                if depth > MAX_CALL_DEPTH {
                    let error = JsError::new(
                        "RangeError",
                        format!(
                            "call chain too deep: {}.{} would be call number {depth} in one chain \
                             (limit {MAX_CALL_DEPTH}); is there a cycle of calls between services?",
                            service, method
                        ),
                    );
                    shared.reply(reply, Err(error));
                    continue;
                }
                shared.invoke(&service, method, arg, reply, depth);
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
                if matches!(request, StoreRequest::Write(_)) {
                    core.track_write(call, parent);
                }
                shared.store(instance, call, &store, request);
            }
            Effect::SetTimer { id, delay, .. } => {
                if let Some(timers) = shared.timers.get() {
                    timers.arm(instance, id, delay);
                }
            }
            Effect::ClearTimer { .. } => {}
        }
    }
}

/// Sends a finished invocation's result to whoever waits for it.
fn answer(
    shared: &Arc<Shared>,
    instance: &Arc<Instance>,
    inflight: Inflight,
    result: Result<crate::value::Value, JsError>,
) {
    instance.sub_load(1);
    let result = result.map_err(|e| e.at(&instance.spec.name, &inflight.method));
    shared.reply(inflight.reply, result);
}

/// Fails every invocation in flight in a faulted instance and replaces its
/// isolate.
fn recover(shared: &Arc<Shared>, instance: &Arc<Instance>, guard: &mut Option<Core>, fault: Fault) {
    let service = &instance.spec.name;
    tracing::error!(service = %service, instance = instance.id, "discarding isolate: {fault}");
    if let Some(core) = guard.as_mut() {
        let failed = core.drain_unanswered();
        instance.sub_load(failed.len());
        for inflight in failed {
            let error = JsError::new("Error", format!("{service}.{}: {fault}", inflight.method))
                .at(service, &inflight.method);
            shared.reply(inflight.reply, Err(error));
        }
    }
    match shared.engine.instantiate(&instance.spec.isolate) {
        Ok(isolate) => *guard = Some(Core::new(isolate)),
        Err(e) => {
            tracing::error!(service = %service, instance = instance.id, "cannot replace isolate: {e}");
            *guard = None;
            if let Some(pool) = shared.services.get(service) {
                pool.remove(instance);
            }
        }
    }
}

/// Answers a message that reached a dead instance.
fn refuse(shared: &Arc<Shared>, instance: &Arc<Instance>, message: Message) {
    if let Message::Invoke { method, reply, .. } = message {
        instance.sub_load(1);
        let service = &instance.spec.name;
        let error = JsError::new(
            "Error",
            format!("{service}.{method}: the instance is gone and could not be restarted"),
        )
        .at(service, &method);
        shared.reply(reply, Err(error));
    }
}
