//! The only unsafe code of the QuickJS backend, with its invariants.
//!
//! rquickjs wraps the QuickJS C API safely except in two places Pyrosome
//! needs: moving an isolate between threads, reading a typed array's bytes
//! without a JavaScript round trip, loading precompiled bytecode, and the
//! allocator that enforces an isolate's heap limit.

use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rquickjs::allocator::{Allocator, RustAllocator};
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

/// Bytes of heap an isolate uses, its limit, and whether an allocation was
/// ever refused (the isolate is then discarded: QuickJS's out-of-memory
/// exception is catchable, so JavaScript alone cannot be trusted to stop).
#[derive(Debug)]
pub(crate) struct HeapAccount {
    used: AtomicUsize,
    limit: usize,
    refused: AtomicBool,
}

impl HeapAccount {
    pub(crate) fn new(limit: usize) -> Arc<HeapAccount> {
        Arc::new(HeapAccount {
            used: AtomicUsize::new(0),
            limit,
            refused: AtomicBool::new(false),
        })
    }

    /// Bytes in use.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Whether an allocation was refused since the last call.
    pub(crate) fn take_refused(&self) -> bool {
        self.refused.swap(false, Ordering::Relaxed)
    }

    fn admit(&self, more: usize) -> bool {
        if self.used().saturating_add(more) > self.limit {
            self.refused.store(true, Ordering::Relaxed);
            false
        } else {
            true
        }
    }
}

/// QuickJS's allocator for one isolate: Rust's global allocator (through
/// rquickjs's `RustAllocator`) with a byte budget. (QuickJS's own memory
/// limit does not apply to custom allocators, and it gives no signal when
/// it is hit.)
pub(crate) struct LimitedAllocator {
    inner: RustAllocator,
    account: Arc<HeapAccount>,
}

impl LimitedAllocator {
    pub(crate) fn new(account: Arc<HeapAccount>) -> LimitedAllocator {
        LimitedAllocator {
            inner: RustAllocator,
            account,
        }
    }
}

// Safety: every pointer returned comes from `RustAllocator`, which meets
// the trait's contract (size-aligned, at least the requested size, null on
// failure); this wrapper only refuses some requests (returning null, which
// QuickJS turns into an out-of-memory exception) and counts the usable size
// of every live block. `dealloc`/`realloc`/`usable_size` receive only
// pointers this allocator returned (rquickjs's contract), so delegating
// them to `RustAllocator` is sound. Overflowing sizes are refused here
// rather than reaching `RustAllocator::calloc`, which would panic.
unsafe impl Allocator for LimitedAllocator {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        if !self.account.admit(size) {
            return ptr::null_mut();
        }
        let p = self.inner.alloc(size);
        if !p.is_null() {
            // Safety: `p` was just returned by the inner allocator.
            let usable = unsafe { RustAllocator::usable_size(p) };
            self.account.used.fetch_add(usable, Ordering::Relaxed);
        }
        p
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        let Some(total) = count.checked_mul(size) else {
            self.account.refused.store(true, Ordering::Relaxed);
            return ptr::null_mut();
        };
        if !self.account.admit(total) {
            return ptr::null_mut();
        }
        let p = self.inner.calloc(count, size);
        if !p.is_null() {
            // Safety: `p` was just returned by the inner allocator.
            let usable = unsafe { RustAllocator::usable_size(p) };
            self.account.used.fetch_add(usable, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8) {
        // Safety: the caller passes a pointer from this allocator.
        let usable = unsafe { RustAllocator::usable_size(ptr) };
        self.account.used.fetch_sub(usable, Ordering::Relaxed);
        // Safety: as above.
        unsafe { self.inner.dealloc(ptr) }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        if ptr.is_null() {
            return self.alloc(new_size);
        }
        // Safety: the caller passes a pointer from this allocator.
        let old = unsafe { RustAllocator::usable_size(ptr) };
        if new_size > old && !self.account.admit(new_size - old) {
            return ptr::null_mut();
        }
        // Safety: as above; on failure the old block stays valid and counted.
        let p = unsafe { self.inner.realloc(ptr, new_size) };
        if !p.is_null() {
            // Safety: `p` was just returned by the inner allocator.
            let new = unsafe { RustAllocator::usable_size(p) };
            self.account.used.fetch_sub(old, Ordering::Relaxed);
            self.account.used.fetch_add(new, Ordering::Relaxed);
        }
        p
    }

    unsafe fn usable_size(ptr: *mut u8) -> usize {
        // Safety: the caller passes a pointer from this allocator.
        unsafe { RustAllocator::usable_size(ptr) }
    }
}
