//! The only unsafe code of the QuickJS backend, with its invariants.
//!
//! rquickjs wraps the QuickJS C API safely except in two places Pyrosome
//! needs: moving an isolate between threads, reading a typed array's bytes
//! without a JavaScript round trip, and loading precompiled bytecode.

use rquickjs::module::Declared;
use rquickjs::{Ctx, Module, TypedArray};

use super::isolate::QjsIsolate;

// Safety: with rquickjs's `parallel` feature, `Runtime` and `Context` are
// `Send`: every use of them takes the runtime's lock. What is not `Send` on
// its own is what a `QjsIsolate` keeps beside them:
//   - `Persistent` handles (the dispatcher functions, `Object.prototype`),
//   - the `Rc<RefCell<HostState>>` shared with the host functions, and
//   - the host functions' closures, owned by the runtime.
// All of these belong to exactly one isolate: no handle, `Rc` clone or
// closure is ever given to code outside the `QjsIsolate` that created it,
// so they move between threads only together with their runtime, and they
// are used only through `&mut QjsIsolate`, i.e. by one thread at a time.
// `QjsIsolate`'s `Drop` releases the persistent handles before the context
// and runtime (QuickJS aborts when a runtime is freed with live values).
unsafe impl Send for QjsIsolate {}

/// Copies a `Uint8Array`'s bytes, `None` when its buffer is detached.
pub(crate) fn typed_array_bytes(array: &TypedArray<'_, u8>) -> Option<Vec<u8>> {
    let raw = array.as_raw()?;
    // Safety: `as_raw` points at the live bytes of `array`; they are copied
    // before any JavaScript can run and detach or resize the buffer.
    Some(unsafe { raw.as_ref() }.to_vec())
}

/// Loads a module from bytecode that [`Module::write`] produced in this
/// process.
///
/// QuickJS trusts bytecode completely (it is not verified), and with the
/// ROM-data flag rquickjs passes, the loaded functions keep pointing into
/// `bytes` instead of copying them. Hence the two requirements, met by
/// taking only `'static` bytes made by this very QuickJS build: the bytes
/// come from `Module::write` of the same engine version, and they outlive
/// every runtime that loads them.
pub(crate) fn load_own_bytecode<'js>(
    ctx: &Ctx<'js>,
    bytes: &'static [u8],
) -> rquickjs::Result<Module<'js, Declared>> {
    // Safety: see above; callers only pass the output of `Module::write`
    // kept in a process-wide static (`isolate::prelude_bytecode`).
    unsafe { Module::load(ctx.clone(), bytes) }
}
