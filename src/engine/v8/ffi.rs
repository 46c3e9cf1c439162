//! The V8 backend's only `unsafe` code: the C ABI of `shim.cc` and the safe
//! types over it.
//!
//! # Invariants
//!
//! - A [`RawIsolate`] owns one `PyroIsolate` (a V8 isolate, its context,
//!   modules and dispatcher) and frees it exactly once, in `Drop`. Every
//!   shim entry point takes a `v8::Locker`, so the isolate may be used from
//!   any thread, one at a time: `RawIsolate` is `Send`, not `Sync`, and all
//!   its methods need `&self` on the thread that owns it.
//! - The shim calls back into Rust (host operations, module resolution)
//!   only during [`RawIsolate::boot`], [`RawIsolate::load`] and
//!   [`RawIsolate::dispatch`], on the calling thread, with the `state`
//!   pointer given at creation: a `Box<Embedded>` owned by the
//!   `RawIsolate`, which outlives the shim isolate (it is dropped after
//!   `pyro_isolate_free`). Callbacks get only `&Embedded`; mutation goes
//!   through its `RefCell`s, so a re-entrant callback fails a borrow
//!   instead of aliasing.
//! - Pointers the shim hands back (the output buffer) are valid until the
//!   next call on the same isolate; they are copied or decoded at once.
//!   Pointers Rust hands out from a callback point into `Embedded`'s
//!   buffers or into module sources the embedder keeps alive, and the shim
//!   copies them before the callback is made again.
//! - No panic crosses the C ABI: callbacks catch unwinding and turn it into
//!   a JavaScript `Error`.
//! - [`Terminator`] is the only thing shared across threads: the shim's
//!   `pyro_isolate_terminate` is V8's thread-safe `TerminateExecution`. A
//!   `Terminator` reaches the isolate through a mutex-guarded pointer that
//!   `RawIsolate::drop` clears before freeing it, so a late terminate is a
//!   no-op, never a use after free.

use std::cell::RefCell;
use std::ffi::{CStr, c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;
use std::sync::Arc;

use parking_lot::Mutex;

#[repr(C)]
#[derive(Clone, Copy)]
struct PyroStr {
    ptr: *const c_char,
    len: usize,
}

impl PyroStr {
    fn of(s: &str) -> PyroStr {
        PyroStr {
            ptr: s.as_ptr().cast(),
            len: s.len(),
        }
    }

    /// # Safety
    /// `ptr` must point to `len` readable bytes that live for `'a`.
    unsafe fn as_bytes<'a>(self) -> &'a [u8] {
        if self.len == 0 {
            return &[];
        }
        // Safety: guaranteed by the caller.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }
}

#[repr(C)]
struct PyroIsolate {
    _opaque: [u8; 0],
}

type HostFn = unsafe extern "C" fn(
    state: *mut c_void,
    op: u32,
    args: *const u8,
    len: usize,
    out: *mut *const u8,
    out_len: *mut usize,
) -> i32;

type ResolveFn = unsafe extern "C" fn(
    state: *mut c_void,
    base: PyroStr,
    name: PyroStr,
    specifier: *mut PyroStr,
    source: *mut PyroStr,
) -> i32;

unsafe extern "C" {
    fn pyro_v8_init() -> *const c_char;
    fn pyro_isolate_new(
        heap_limit: usize,
        host: HostFn,
        host_state: *mut c_void,
        resolve: ResolveFn,
        resolve_state: *mut c_void,
    ) -> *mut PyroIsolate;
    fn pyro_isolate_free(isolate: *mut PyroIsolate);
    fn pyro_isolate_terminate(isolate: *mut PyroIsolate);
    fn pyro_isolate_output(isolate: *mut PyroIsolate) -> PyroStr;
    fn pyro_isolate_heap_used(isolate: *mut PyroIsolate) -> usize;
    fn pyro_isolate_take_exhausted(isolate: *mut PyroIsolate) -> i32;
    fn pyro_isolate_boot(
        isolate: *mut PyroIsolate,
        prelude: PyroStr,
        service: PyroStr,
        ops: PyroStr,
        codec: PyroStr,
    ) -> i32;
    fn pyro_isolate_load(
        isolate: *mut PyroIsolate,
        specifier: PyroStr,
        source: PyroStr,
        entry: i32,
    ) -> i32;
    fn pyro_isolate_dispatch(
        isolate: *mut PyroIsolate,
        which: u32,
        id: f64,
        method: PyroStr,
        ok: i32,
        value: *const u8,
        value_len: usize,
    ) -> i32;
}

/// Initializes V8 once per process; returns its version.
pub(super) fn init() -> &'static str {
    // Safety: the shim initializes at most once (std::call_once) and
    // returns a static NUL-terminated string.
    let version = unsafe { CStr::from_ptr(pyro_v8_init()) };
    version.to_str().unwrap_or("unknown")
}

/// How a shim call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Status {
    /// Completed.
    Ok,
    /// JavaScript threw; the output holds an error record.
    Exception,
    /// Execution was terminated (watchdog, heap limit).
    Terminated,
    /// A module's top-level await never settled.
    Unsettled,
}

impl Status {
    fn from_code(code: i32) -> Status {
        match code {
            0 => Status::Ok,
            1 => Status::Exception,
            2 => Status::Terminated,
            _ => Status::Unsettled,
        }
    }
}

/// Which dispatcher function to call.
#[derive(Clone, Copy, Debug)]
pub(super) enum Dispatch {
    /// `invoke(id, method, value)`.
    Invoke,
    /// `reply(id, ok, value)`.
    Reply,
    /// `timer(id)`.
    Timer,
}

/// How a host operation answers.
pub(super) enum Answer {
    /// The wire-encoded value written to the output buffer.
    Value,
    /// Throw a `TypeError` with the message written to the output buffer.
    TypeError,
    /// Throw a `RangeError` with the message.
    RangeError,
    /// Throw an `Error` with the message.
    Error,
}

/// What the shim calls back into.
pub(super) trait Embedder: Send {
    /// Host operation number `op` with wire-encoded arguments; writes the
    /// answer (value or message) into `out`, which is empty on entry.
    fn host_op(&self, op: u32, args: &[u8], out: &mut Vec<u8>) -> Answer;

    /// Resolves `name` imported from module `base`: the specifier and the
    /// source, which must live as long as the embedder.
    fn resolve(&self, base: &str, name: &str) -> Result<(String, &str), String>;
}

/// The embedder plus the buffers answers are handed to the shim in.
struct Embedded {
    embedder: Box<dyn Embedder>,
    out: RefCell<Vec<u8>>,
    specifier: RefCell<String>,
}

unsafe extern "C" fn host_trampoline(
    state: *mut c_void,
    op: u32,
    args: *const u8,
    len: usize,
    out: *mut *const u8,
    out_len: *mut usize,
) -> i32 {
    // Safety: `state` is the `Embedded` this isolate was created with (see
    // the module invariants); `args` points to `len` bytes for this call.
    let embedded = unsafe { &*state.cast::<Embedded>() };
    let args = unsafe {
        PyroStr {
            ptr: args.cast(),
            len,
        }
        .as_bytes()
    };
    let answer = catch_unwind(AssertUnwindSafe(|| {
        let Ok(mut buffer) = embedded.out.try_borrow_mut() else {
            return (3, b"re-entrant host operation".as_slice().as_ptr(), 25);
        };
        buffer.clear();
        let code = match embedded.embedder.host_op(op, args, &mut buffer) {
            Answer::Value => 0,
            Answer::TypeError => 1,
            Answer::RangeError => 2,
            Answer::Error => 3,
        };
        (code, buffer.as_ptr(), buffer.len())
    }));
    let (code, ptr, n) = answer.unwrap_or_else(|_| {
        const PANIC: &[u8] = b"internal error in a host operation";
        (3, PANIC.as_ptr(), PANIC.len())
    });
    // Safety: the shim passes valid out-pointers; the buffer stays valid
    // until the next host operation on this isolate.
    unsafe {
        *out = ptr;
        *out_len = n;
    }
    code
}

unsafe extern "C" fn resolve_trampoline(
    state: *mut c_void,
    base: PyroStr,
    name: PyroStr,
    specifier: *mut PyroStr,
    source: *mut PyroStr,
) -> i32 {
    // Safety: as in `host_trampoline`; `base` and `name` are valid for the
    // call.
    let embedded = unsafe { &*state.cast::<Embedded>() };
    let (base, name) = unsafe { (base.as_bytes(), name.as_bytes()) };
    let answer = catch_unwind(AssertUnwindSafe(|| {
        let base = String::from_utf8_lossy(base);
        let name = String::from_utf8_lossy(name);
        let Ok(mut scratch) = embedded.specifier.try_borrow_mut() else {
            return None;
        };
        match embedded.embedder.resolve(&base, &name) {
            Ok((spec, src)) => {
                *scratch = spec;
                Some((0, PyroStr::of(&scratch), PyroStr::of(src)))
            }
            Err(message) => {
                *scratch = message;
                Some((1, PyroStr::of(&scratch), PyroStr::of("")))
            }
        }
    }));
    const FAILED: &str = "internal error while resolving a module";
    let (code, spec, src) =
        answer
            .ok()
            .flatten()
            .unwrap_or((1, PyroStr::of(FAILED), PyroStr::of("")));
    // Safety: valid out-pointers from the shim; the strings live in
    // `Embedded` (until the next resolve) or in the embedder's sources.
    unsafe {
        *specifier = spec;
        *source = src;
    }
    code
}

/// One shim isolate. See the module invariants.
pub(super) struct RawIsolate {
    ptr: NonNull<PyroIsolate>,
    /// Dropped after the shim isolate (see `Drop`).
    embedded: *mut Embedded,
    /// Shared with [`Terminator`]s; cleared before the isolate is freed.
    live: Arc<Mutex<Option<IsolatePtr>>>,
}

/// The isolate pointer as [`Terminator`]s hold it.
#[derive(Clone, Copy)]
struct IsolatePtr(NonNull<PyroIsolate>);

// Safety: only `pyro_isolate_terminate` (thread-safe) is called through it,
// under the mutex that `RawIsolate::drop` takes to clear it.
unsafe impl Send for IsolatePtr {}

// Safety: every shim entry point takes a v8::Locker, so the isolate may move
// between threads; the embedder is `Send`, and `RawIsolate` is not `Sync`, so
// it is used from one thread at a time.
unsafe impl Send for RawIsolate {}

impl RawIsolate {
    /// A new isolate with a heap limit (V8 heap and, separately, ArrayBuffer
    /// memory); `None` if V8 could not create it.
    pub(super) fn new(heap_limit: usize, embedder: Box<dyn Embedder>) -> Option<RawIsolate> {
        let embedded = Box::into_raw(Box::new(Embedded {
            embedder,
            out: RefCell::new(Vec::new()),
            specifier: RefCell::new(String::new()),
        }));
        // Safety: the trampolines match the shim's typedefs; `embedded`
        // lives until `Drop` (or is reclaimed right here on failure).
        let ptr = unsafe {
            pyro_isolate_new(
                heap_limit,
                host_trampoline,
                embedded.cast(),
                resolve_trampoline,
                embedded.cast(),
            )
        };
        match NonNull::new(ptr) {
            Some(ptr) => Some(RawIsolate {
                ptr,
                embedded,
                live: Arc::new(Mutex::new(Some(IsolatePtr(ptr)))),
            }),
            None => {
                // Safety: created above by Box::into_raw, never shared.
                drop(unsafe { Box::from_raw(embedded) });
                None
            }
        }
    }

    /// Runs the codec (`codec.js`), then the prelude with a `host` object
    /// whose functions are `ops` (`\0`-separated names, numbered from 0).
    pub(super) fn boot(&self, prelude: &str, service: &str, ops: &str, codec: &str) -> Status {
        // Safety: a live isolate; strings valid for the call.
        Status::from_code(unsafe {
            pyro_isolate_boot(
                self.ptr.as_ptr(),
                PyroStr::of(prelude),
                PyroStr::of(service),
                PyroStr::of(ops),
                PyroStr::of(codec),
            )
        })
    }

    /// Compiles and evaluates a module; with `entry`, hands its namespace
    /// to the dispatcher and leaves `{methods, hasFetch}` in the output.
    pub(super) fn load(&self, specifier: &str, source: &str, entry: bool) -> Status {
        // Safety: as in `boot`.
        Status::from_code(unsafe {
            pyro_isolate_load(
                self.ptr.as_ptr(),
                PyroStr::of(specifier),
                PyroStr::of(source),
                i32::from(entry),
            )
        })
    }

    /// Calls a dispatcher function and drains the microtask queue.
    pub(super) fn dispatch(
        &self,
        which: Dispatch,
        id: f64,
        method: &str,
        ok: bool,
        value: &[u8],
    ) -> Status {
        let which = match which {
            Dispatch::Invoke => 0,
            Dispatch::Reply => 1,
            Dispatch::Timer => 2,
        };
        // Safety: as in `boot`; `value` is valid for the call.
        Status::from_code(unsafe {
            pyro_isolate_dispatch(
                self.ptr.as_ptr(),
                which,
                id,
                PyroStr::of(method),
                i32::from(ok),
                value.as_ptr(),
                value.len(),
            )
        })
    }

    /// A copy of the output of the last call (error record, exports).
    pub(super) fn output(&self) -> Vec<u8> {
        // Safety: the buffer is valid until the next call on this isolate,
        // and it is copied before this function returns.
        unsafe { pyro_isolate_output(self.ptr.as_ptr()).as_bytes().to_vec() }
    }

    /// Bytes of heap and ArrayBuffer memory in use.
    pub(super) fn heap_used(&self) -> usize {
        // Safety: a live isolate.
        unsafe { pyro_isolate_heap_used(self.ptr.as_ptr()) }
    }

    /// Whether a memory limit was hit since the last time this was asked.
    pub(super) fn take_exhausted(&self) -> bool {
        // Safety: a live isolate; the flags are atomics.
        unsafe { pyro_isolate_take_exhausted(self.ptr.as_ptr()) != 0 }
    }

    /// A handle that may stop this isolate's JavaScript from another thread.
    pub(super) fn terminator(&self) -> Terminator {
        Terminator {
            live: self.live.clone(),
        }
    }
}

impl Drop for RawIsolate {
    fn drop(&mut self) {
        *self.live.lock() = None;
        // Safety: the isolate is live and freed once; the embedder is freed
        // after it, when no callback can run any more.
        unsafe {
            pyro_isolate_free(self.ptr.as_ptr());
            drop(Box::from_raw(self.embedded));
        }
    }
}

/// Stops a [`RawIsolate`]'s JavaScript from any thread; does nothing once
/// the isolate is gone.
#[derive(Clone)]
pub(super) struct Terminator {
    live: Arc<Mutex<Option<IsolatePtr>>>,
}

impl crate::engine::watchdog::Terminate for Terminator {
    /// Terminates whatever JavaScript the isolate is running.
    fn terminate(&self) {
        if let Some(IsolatePtr(ptr)) = *self.live.lock() {
            // Safety: the isolate is live while the pointer is set (cleared
            // under this lock before it is freed); the call is thread-safe.
            unsafe { pyro_isolate_terminate(ptr.as_ptr()) }
        }
    }
}
