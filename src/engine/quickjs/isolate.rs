//! One QuickJS isolate: a runtime, a context, the service's module and the
//! dispatcher the shared bootstrap returned.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rquickjs::module::WriteOptions;
use rquickjs::{Context, Ctx, Function, Module, Object, Persistent, Runtime, Value as JsValue};

use super::convert::{from_payload, from_value};
use super::ffi::{HeapAccount, LimitedAllocator, Raw, load_own_bytecode};
use super::host::{self, HostState, SharedState, js_error};
use super::loader::AppLoader;
use crate::engine::context::{AsyncContext, TimerFate};
use crate::engine::modules::BUILTIN_SOURCE;
use crate::engine::watchdog::Watch;
use crate::engine::{BUILTIN_MODULE, Effect, EngineError, Event, Fault, IsolateConfig, JsError};

/// The bootstrap and Web APIs, assembled by `build.rs` from `js/`: a
/// function expression taking the `host` object.
const PRELUDE: &str = include_str!(concat!(env!("OUT_DIR"), "/prelude.js"));

/// Module name of the compiled prelude.
const PRELUDE_MODULE: &str = "pyrosome:prelude";

/// The prelude compiled once per process. Compiling ~90 KB of JavaScript
/// takes milliseconds; loading its bytecode takes a fraction of one, which
/// is what keeps isolate start under a millisecond.
static PRELUDE_BYTECODE: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();

fn prelude_bytecode() -> Result<&'static [u8], EngineError> {
    let compiled = PRELUDE_BYTECODE.get_or_init(|| {
        let runtime = Runtime::new().map_err(|e| e.to_string())?;
        let context = Context::full(&runtime).map_err(|e| e.to_string())?;
        context.with(|ctx| {
            let source = format!("export default {PRELUDE}");
            let module = Module::declare(ctx.clone(), PRELUDE_MODULE, source)
                .map_err(|e| format!("the prelude does not compile: {e}: {:?}", ctx.catch()))?;
            module
                .write(WriteOptions {
                    strip_source: true,
                    ..WriteOptions::default()
                })
                .map_err(|e| e.to_string())
        })
    });
    compiled
        .as_ref()
        .map(Vec::as_slice)
        .map_err(|e| EngineError::Create(e.clone()))
}

/// QuickJS's native stack limit for JavaScript recursion. Workers run on
/// threads with larger stacks (see the scheduler), so deep recursion ends in
/// a catchable `RangeError`, never a crash.
const MAX_STACK_BYTES: usize = 1024 * 1024;

/// Module top levels get at least this long before they are interrupted,
/// however small the per-invocation budget.
const MIN_LOAD_BUDGET: Duration = Duration::from_secs(2);

/// The dispatcher functions returned by the bootstrap.
struct Dispatcher {
    invoke: Persistent<Function<'static>>,
    reply: Persistent<Function<'static>>,
    timer: Persistent<Function<'static>>,
}

/// Stops QuickJS when the watchdog says the budget ran out: QuickJS calls
/// this every few thousand bytecodes, and it only loads an atomic.
fn install_interrupt(runtime: &Runtime, watch: &Watch) {
    let slot = watch.slot().clone();
    runtime.set_interrupt_handler(Some(Box::new(move || slot.fired())));
}

/// A QuickJS isolate. Field order matters for `Drop`: see `ffi.rs`.
pub(crate) struct QjsIsolate {
    dispatcher: Option<Dispatcher>,
    state: SharedState,
    methods: Vec<String>,
    has_fetch: bool,
    budget: Duration,
    memory_limit: usize,
    heap: Arc<HeapAccount>,
    watch: Watch,
    context: Context,
    /// Kept so the runtime outlives the context (field order is drop order).
    _runtime: Runtime,
}

impl Drop for QjsIsolate {
    fn drop(&mut self) {
        // Release every persistent handle and cached atom while the
        // runtime is alive.
        self.dispatcher = None;
        self.state.borrow_mut().object_proto = None;
        let codec = self.state.borrow_mut().codec.take();
        if let Some(mut codec) = codec {
            self.context.with(|ctx| codec.release(&Raw::new(&ctx)));
        }
        // `context`, then `runtime`, drop after this in field order.
    }
}

fn create_error(e: impl std::fmt::Display) -> EngineError {
    EngineError::Create(e.to_string())
}

/// Renders a module-loading exception as an [`EngineError`].
fn load_error(ctx: &Ctx<'_>, entry: &str) -> EngineError {
    EngineError::loading(js_error(&ctx.catch()), entry, None)
}

impl QjsIsolate {
    pub(crate) fn new(config: &IsolateConfig) -> Result<QjsIsolate, EngineError> {
        let heap = HeapAccount::new(config.memory_limit);
        let runtime =
            Runtime::new_with_alloc(LimitedAllocator::new(heap.clone())).map_err(create_error)?;
        runtime.set_max_stack_size(MAX_STACK_BYTES);
        runtime.set_loader(
            AppLoader {
                modules: config.modules.clone(),
            },
            AppLoader {
                modules: config.modules.clone(),
            },
        );
        let watch = Watch::register(None);
        install_interrupt(&runtime, &watch);
        let context = Context::full(&runtime).map_err(create_error)?;
        let state: SharedState = Rc::new(RefCell::new(HostState {
            service: config.service.clone(),
            directory: config.directory.clone(),
            env: config.env.clone(),
            stores: config.stores.clone(),
            effects: Vec::new(),
            cx: AsyncContext::default(),
            started: Instant::now(),
            object_proto: None,
            object_proto_id: 0,
            heap_limit: config.memory_limit,
            codec: None,
        }));

        let armed = watch.arm(config.cpu_budget.max(MIN_LOAD_BUDGET));
        let loaded = context.with(|ctx| Self::load(&ctx, &state, config));
        drop(armed);
        let mut isolate = QjsIsolate {
            dispatcher: None,
            state,
            methods: Vec::new(),
            has_fetch: false,
            budget: config.cpu_budget,
            memory_limit: config.memory_limit,
            heap,
            watch,
            context,
            _runtime: runtime,
        };
        match loaded {
            Ok((dispatcher, methods, has_fetch)) => {
                isolate.dispatcher = Some(dispatcher);
                isolate.methods = methods;
                isolate.has_fetch = has_fetch;
                // Effects of top-level code (timers armed at load) are kept
                // for the first event.
                Ok(isolate)
            }
            Err(e) if isolate.watch.slot().fired() => Err(EngineError::Evaluation {
                file: config.entry.clone(),
                message: format!(
                    "the module's top level ran longer than {} ms and was interrupted ({e})",
                    config.cpu_budget.max(MIN_LOAD_BUDGET).as_millis()
                ),
            }),
            Err(e) => Err(e),
        }
    }

    /// Runs the prelude, the builtin module and the entry module.
    fn load<'js>(
        ctx: &Ctx<'js>,
        state: &SharedState,
        config: &IsolateConfig,
    ) -> Result<(Dispatcher, Vec<String>, bool), EngineError> {
        let internal = |e: rquickjs::Error| {
            if matches!(e, rquickjs::Error::Exception) {
                load_error(ctx, "<prelude>")
            } else {
                create_error(e)
            }
        };
        let object_proto: Object = ctx
            .globals()
            .get::<_, Object>("Object")
            .and_then(|o| o.get("prototype"))
            .map_err(internal)?;
        let identity = Raw::new(ctx).js_of(object_proto.as_value()).identity();
        let mut s = state.borrow_mut();
        s.object_proto_id = identity;
        s.object_proto = Some(Persistent::save(ctx, object_proto));
        drop(s);

        let host = host::install(ctx, state).map_err(internal)?;
        let (prelude, promise) = load_own_bytecode(ctx, prelude_bytecode()?)
            .and_then(|m| m.eval())
            .map_err(internal)?;
        drain_jobs(ctx, || false);
        drop(promise);
        let prelude: Function = prelude.get("default").map_err(internal)?;
        let dispatcher: Object = prelude.call((host,)).map_err(internal)?;
        let get = |name: &str| -> Result<Persistent<Function<'static>>, EngineError> {
            let f: Function = dispatcher.get(name).map_err(internal)?;
            Ok(Persistent::save(ctx, f))
        };
        let handles = Dispatcher {
            invoke: get("invoke")?,
            reply: get("reply")?,
            timer: get("timer")?,
        };

        let builtin = Module::declare(ctx.clone(), BUILTIN_MODULE, BUILTIN_SOURCE)
            .map_err(|_| load_error(ctx, BUILTIN_MODULE))?;
        let (_, promise) = builtin
            .eval()
            .map_err(|_| load_error(ctx, BUILTIN_MODULE))?;
        drain_jobs(ctx, || false);
        drop(promise);

        let entry = config.entry.as_str();
        let source = config
            .modules
            .get(entry)
            .ok_or_else(|| EngineError::Evaluation {
                file: entry.to_owned(),
                message: "no such module in the app".to_owned(),
            })?;
        let module = Module::declare(ctx.clone(), entry, source.source.as_bytes())
            .map_err(|_| load_error(ctx, entry))?;
        let (module, promise) = module.eval().map_err(|_| load_error(ctx, entry))?;
        drain_jobs(ctx, || false);
        match promise.result::<JsValue>() {
            None => {
                return Err(EngineError::Evaluation {
                    file: entry.to_owned(),
                    message: "the module's top-level await never settled".to_owned(),
                });
            }
            Some(Err(rquickjs::Error::Exception)) => return Err(load_error(ctx, entry)),
            Some(Err(e)) => return Err(create_error(e)),
            Some(Ok(_)) => {}
        }

        let namespace = module.namespace().map_err(internal)?;
        let mut methods = Vec::new();
        let mut has_fetch = false;
        for key in namespace.keys::<String>() {
            let key = key.map_err(internal)?;
            let value: JsValue = namespace.get(key.as_str()).map_err(internal)?;
            if key == "default" {
                has_fetch = value
                    .as_object()
                    .and_then(|o| o.get::<_, JsValue>("fetch").ok())
                    .is_some_and(|f| f.is_function());
            } else if value.is_function() && !key.starts_with('@') {
                methods.push(key);
            }
        }
        methods.sort();
        let set_module: Function = dispatcher.get("setModule").map_err(internal)?;
        set_module.call::<_, ()>((namespace,)).map_err(internal)?;
        Ok((handles, methods, has_fetch))
    }

    fn deliver(&self, event: Event) -> Result<(), Fault> {
        let Some(dispatcher) = self.dispatcher.as_ref() else {
            return Err(Fault::Internal("isolate has no dispatcher".to_owned()));
        };
        let state = &self.state;
        let slot = self.watch.slot();
        let service = state.borrow().service.clone();
        self.context.with(|ctx| {
            let outcome: rquickjs::Result<()> = match event {
                Event::Invoke { id, method, arg } => {
                    state.borrow_mut().cx.enter_invocation(id);
                    dispatcher.invoke.clone().restore(&ctx).and_then(|f| {
                        let arg = from_payload(&ctx, state, &arg)?;
                        f.call((id.0 as f64, method, arg))
                    })
                }
                Event::Reply { call, result } => {
                    if !state.borrow_mut().cx.enter_reply(call) {
                        return Ok(());
                    }
                    dispatcher.reply.clone().restore(&ctx).and_then(|f| {
                        let (ok, value) = match result {
                            Ok(v) => (true, from_payload(&ctx, state, &v)?),
                            Err(e) => (false, from_value(&ctx, &e.to_value())?),
                        };
                        f.call((call.0 as f64, ok, value))
                    })
                }
                Event::Timer { id } => {
                    let live = match state.borrow_mut().cx.enter_timer(id) {
                        TimerFate::Unknown => return Ok(()),
                        TimerFate::Run => true,
                        // The bootstrap forgets it without running it.
                        TimerFate::Expired => false,
                    };
                    dispatcher
                        .timer
                        .clone()
                        .restore(&ctx)
                        .and_then(|f| f.call((id.0 as f64, live)))
                }
            };
            if let Err(e) = outcome {
                if slot.fired() {
                    // The interrupt is an uncatchable exception: take it,
                    // so the isolate carries on clean (see `Fault`).
                    let _ = ctx.catch();
                    return Err(Fault::CpuBudget {
                        budget: self.budget,
                    });
                }
                let error = if matches!(e, rquickjs::Error::Exception) {
                    js_error(&ctx.catch())
                } else {
                    JsError::new("InternalError", e.to_string())
                };
                // A timer callback threw, or an event could not be
                // delivered: report it like an uncaught exception.
                error.log_uncaught(&service);
            }
            drain_jobs(&ctx, || slot.fired());
            if slot.fired() {
                let _ = ctx.catch();
                return Err(Fault::CpuBudget {
                    budget: self.budget,
                });
            }
            Ok(())
        })
    }
}

/// Runs pending jobs (promise reactions) until none is left or `stop`.
fn drain_jobs(ctx: &Ctx<'_>, stop: impl Fn() -> bool) {
    while ctx.execute_pending_job() {
        if stop() {
            break;
        }
    }
}

impl crate::engine::Isolate for QjsIsolate {
    fn methods(&self) -> &[String] {
        &self.methods
    }

    fn has_fetch(&self) -> bool {
        self.has_fetch
    }

    fn handle(
        &mut self,
        event: Event,
        budget: Duration,
        effects: &mut Vec<Effect>,
    ) -> Result<(), Fault> {
        self.budget = budget;
        let armed = self.watch.arm(budget);
        let result = self.deliver(event);
        drop(armed);
        let mut state = self.state.borrow_mut();
        state.cx.leave();
        effects.append(&mut state.effects);
        if self.heap.take_refused() {
            return Err(Fault::OutOfMemory {
                limit_mb: self.memory_limit >> 20,
            });
        }
        result
    }

    fn heap_used(&self) -> usize {
        self.heap.used()
    }
}
