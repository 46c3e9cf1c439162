//! The only unsafe code of the QuickJS backend, with its invariants.
//!
//! rquickjs wraps the QuickJS C API safely except where Pyrosome needs
//! more: moving an isolate between threads, reading a typed array's bytes
//! without a JavaScript round trip, loading precompiled bytecode, the
//! allocator that enforces an isolate's heap limit, and raw value handles
//! for the one-pass wire codec (`wire.rs`): [`Js`] (one owned value
//! reference), [`Raw`] (the context), [`Keys`], [`Utf8`], [`AtomRef`],
//! [`Stack`] and the [`KeyCache`] of atoms. Each is safe to use; the rules
//! they keep are written above their definitions.

use std::marker::PhantomData;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rquickjs::allocator::{Allocator, RustAllocator};
use rquickjs::module::Declared;
use rquickjs::qjs::{self, JSValue};
use rquickjs::{Ctx, Module, TypedArray, Value as JsValue};

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

// ---------------------------------------------------------------------------
// QuickJS values, raw: what the one-pass wire codec (`wire.rs`) works with.
//
// rquickjs's safe types cost a context reference count and a `Result` per
// operation, and read keys through Rust `String`s; the codec instead calls
// QuickJS's C API directly, through the handles below. The rules every
// function here keeps:
//
// - Ownership. A `Js` owns exactly one reference to its value and releases
//   it in `Drop` (`JS_FreeValue`). A function that takes a `Js` by value
//   hands that reference to QuickJS (every C function used that way "takes
//   ownership", including on failure) and forgets the handle, so each
//   reference is released exactly once. `Utf8`, `Keys` and `AtomRef` own a
//   C string, a property table and an atom reference the same way.
// - Lifetime. Every handle is branded with the `'js` of the `Ctx<'js>` it
//   came from (through `Raw<'js>`). rquickjs hands out a `Ctx<'js>` only
//   while the context is locked and alive (inside `Context::with` or a host
//   function call) and `'js` cannot escape that scope, so no handle outlives
//   its context or runtime. The exception is the atom references held by
//   `KeyCache`, which has no lifetime: they are released by
//   `KeyCache::release` while the runtime is alive (or leaked, which QuickJS
//   tolerates: atoms are not checked for leaks when a runtime is freed).
// - Exceptions. Functions documented to "discard" an exception take it out
//   of the context and free it (the encoder turns failures into refusals);
//   functions returning `Err(Thrown)` leave it pending for rquickjs to
//   report. Faults do not depend on the exception: the CPU watchdog and
//   the heap account are checked after every event.

// C's `size_t` is `usize` on every target Rust and QuickJS share; the
// casts below rely on it.
const _: () = assert!(std::mem::size_of::<qjs::size_t>() == std::mem::size_of::<usize>());

fn size_t(n: usize) -> qjs::size_t {
    n as qjs::size_t
}

fn from_size_t(n: qjs::size_t) -> usize {
    n as usize
}

/// A QuickJS exception is pending in the context (out of memory, a string
/// too long, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Thrown;

/// The context of a `Ctx<'js>`, for raw value operations. It holds the
/// `Ctx` (one context reference) so the pointer stays valid.
#[derive(Clone)]
pub(crate) struct Raw<'js> {
    ctx: Ctx<'js>,
    ptr: *mut qjs::JSContext,
    runtime: *mut qjs::JSRuntime,
}

/// The class ids of plain objects and arrays. They are constants of the
/// QuickJS build (the first entries of its class enumeration), read once
/// from real objects rather than copied from its private header.
#[derive(Clone, Copy)]
struct BuiltinClasses {
    object: qjs::JSClassID,
    array: qjs::JSClassID,
}

static BUILTIN_CLASSES: std::sync::OnceLock<BuiltinClasses> = std::sync::OnceLock::new();

fn builtin_classes(ctx: *mut qjs::JSContext) -> BuiltinClasses {
    if let Some(classes) = BUILTIN_CLASSES.get() {
        return *classes;
    }
    // Safety: two new objects of a live context, whose classes are read
    // and which are freed right away. If making one failed (out of
    // memory), its class reads as 0, which no object has: the fast paths
    // of `Js::kind` then never apply, and nothing is remembered.
    let classes = unsafe {
        let object = qjs::JS_NewObject(ctx);
        let array = qjs::JS_NewArray(ctx);
        let classes = BuiltinClasses {
            object: qjs::JS_GetClassID(object),
            array: qjs::JS_GetClassID(array),
        };
        qjs::JS_FreeValue(ctx, object);
        qjs::JS_FreeValue(ctx, array);
        classes
    };
    if classes.object != 0 && classes.array != 0 {
        let _ = BUILTIN_CLASSES.set(classes);
    }
    classes
}

/// One owned reference to a QuickJS value. See the rules above.
pub(crate) struct Js<'js> {
    ctx: *mut qjs::JSContext,
    v: JSValue,
    _brand: PhantomData<Ctx<'js>>,
}

/// What a value is, with the outcome of the checks `convert.rs` used to
/// make through rquickjs's `type_of` (arrays, then functions, promises,
/// other objects including errors, proxies last).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    Undefined,
    Null,
    Bool(bool),
    Number(f64),
    String,
    BigInt,
    Symbol,
    Array,
    Function,
    Promise,
    /// An ordinary object (class `Object`: literals, `Object.create`,
    /// instances of JavaScript classes); not a typed array.
    Object,
    /// Any other object that is not an array, function, promise or proxy
    /// (errors, typed arrays, `Map`, `Date`, ...).
    Exotic,
    Proxy,
    /// A module, bytecode or other value JavaScript never holds.
    Internal,
}

impl Drop for Js<'_> {
    fn drop(&mut self) {
        // Safety: `self` owns one reference to `v` in the live context
        // `ctx` (rules above); values without a reference count are
        // skipped, for which `JS_FreeValue` would do nothing.
        unsafe {
            if qjs::JS_VALUE_HAS_REF_COUNT(self.v) {
                qjs::JS_FreeValue(self.ctx, self.v);
            }
        }
    }
}

impl<'js> Raw<'js> {
    pub(crate) fn new(ctx: &Ctx<'js>) -> Raw<'js> {
        let ptr = ctx.as_raw().as_ptr();
        Raw {
            ctx: ctx.clone(),
            ptr,
            // Safety: reads the runtime of a live context.
            runtime: unsafe { qjs::JS_GetRuntime(ptr) },
        }
    }

    /// The rquickjs context.
    pub(crate) fn ctx(&self) -> &Ctx<'js> {
        &self.ctx
    }

    /// Wraps a value returned by a QuickJS function that returns a new
    /// reference (or `JS_EXCEPTION`).
    fn own(&self, v: JSValue) -> Result<Js<'js>, Thrown> {
        // Safety: reading the tag of a value is always sound.
        if unsafe { qjs::JS_IsException(v) } {
            return Err(Thrown);
        }
        Ok(Js {
            ctx: self.ptr,
            v,
            _brand: PhantomData,
        })
    }

    /// A value without a reference count (undefined, null, booleans,
    /// numbers): owning it owns nothing.
    fn plain(&self, v: JSValue) -> Js<'js> {
        Js {
            ctx: self.ptr,
            v,
            _brand: PhantomData,
        }
    }

    /// Takes the pending exception out of the context and frees it.
    pub(crate) fn discard_exception(&self) {
        // Safety: `JS_GetException` returns the pending exception (or
        // `JS_UNINITIALIZED`) as a new reference, released by the drop.
        drop(self.plain(unsafe { qjs::JS_GetException(self.ptr) }));
    }

    /// A new reference to an rquickjs value of this context.
    pub(crate) fn js_of(&self, value: &JsValue<'js>) -> Js<'js> {
        // Safety: `value` belongs to this context (same `'js`); the dup is
        // the reference the handle owns.
        self.plain(unsafe { qjs::JS_DupValue(self.ptr, value.as_raw()) })
    }

    /// An rquickjs value for `js` (a new reference).
    pub(crate) fn value_of(&self, js: &Js<'js>) -> JsValue<'js> {
        // Safety: `js` is alive in this context; the dup is the reference
        // the rquickjs value owns and releases.
        unsafe { JsValue::from_raw(self.ctx.clone(), qjs::JS_DupValue(self.ptr, js.v)) }
    }

    /// Hands a value over to rquickjs.
    pub(crate) fn give(&self, js: Js<'js>) -> JsValue<'js> {
        let v = js.v;
        std::mem::forget(js);
        // Safety: the reference `js` owned moves into the rquickjs value,
        // which releases it; `js` was made in this context.
        unsafe { JsValue::from_raw(self.ctx.clone(), v) }
    }

    pub(crate) fn undefined(&self) -> Js<'js> {
        self.plain(qjs::JS_UNDEFINED)
    }

    pub(crate) fn null(&self) -> Js<'js> {
        self.plain(qjs::JS_NULL)
    }

    pub(crate) fn bool(&self, b: bool) -> Js<'js> {
        self.plain(if b { qjs::JS_TRUE } else { qjs::JS_FALSE })
    }

    /// A number; integral values become QuickJS ints, `-0` stays a float.
    pub(crate) fn number(&self, n: f64) -> Js<'js> {
        self.plain(qjs::JS_NewFloat64(n))
    }

    /// A string from UTF-8. (QuickJS decodes ill-formed UTF-8 leniently,
    /// with U+FFFD; callers that must refuse it check first.)
    pub(crate) fn string(&self, utf8: &[u8]) -> Result<Js<'js>, Thrown> {
        // Safety: the pointer and length describe `utf8`, which QuickJS
        // reads (any bytes) and copies.
        self.own(unsafe {
            qjs::JS_NewStringLen(self.ptr, utf8.as_ptr().cast(), size_t(utf8.len()))
        })
    }

    /// A string from UTF-16 code units (lone surrogates allowed).
    pub(crate) fn string_utf16(&self, units: &[u16]) -> Result<Js<'js>, Thrown> {
        // Safety: the pointer and length describe `units`, which QuickJS
        // copies; it accepts any code units.
        self.own(unsafe { qjs::JS_NewStringUTF16(self.ptr, units.as_ptr(), size_t(units.len())) })
    }

    /// A BigInt that fits 64 bits.
    pub(crate) fn bigint(&self, n: i64) -> Result<Js<'js>, Thrown> {
        // Safety: a plain constructor call.
        self.own(unsafe { qjs::JS_NewBigInt64(self.ptr, n) })
    }

    /// A `Uint8Array` with a copy of `bytes`.
    pub(crate) fn uint8_array(&self, bytes: &[u8]) -> Result<Js<'js>, Thrown> {
        // Safety: the pointer and length describe `bytes`, which QuickJS
        // copies into a new buffer.
        self.own(unsafe {
            qjs::JS_NewUint8ArrayCopy(self.ptr, bytes.as_ptr(), size_t(bytes.len()))
        })
    }

    /// A new plain object (prototype: the context's `Object.prototype`).
    pub(crate) fn object(&self) -> Result<Js<'js>, Thrown> {
        // Safety: a plain constructor call.
        self.own(unsafe { qjs::JS_NewObject(self.ptr) })
    }

    /// Parses JSON text; `text` must end with a NUL byte, which is not
    /// part of the text (QuickJS's parser requires the terminator).
    pub(crate) fn parse_json(&self, text: &[u8]) -> Result<Js<'js>, Thrown> {
        let Some((&0, body)) = text.split_last() else {
            return Err(self.throw_internal("JSON text without its terminator"));
        };
        // Safety: `body` is followed by the NUL byte the parser requires;
        // the file name is a NUL-terminated static string.
        self.own(unsafe {
            qjs::JS_ParseJSON(
                self.ptr,
                body.as_ptr().cast(),
                size_t(body.len()),
                c"<wire>".as_ptr(),
            )
        })
    }

    /// Throws an `InternalError` with `message`.
    pub(crate) fn throw_internal(&self, message: &str) -> Thrown {
        let _ = rquickjs::Exception::throw_internal(&self.ctx, message);
        Thrown
    }

    /// An atom for a property name, one reference owned.
    pub(crate) fn atom(&self, name: &str) -> Result<AtomRef<'js>, Thrown> {
        let atom = if name.is_ascii() {
            // Safety: pointer and length describe `name`. (QuickJS's atom
            // lookup compares these bytes with its Latin-1 atom strings,
            // which is only correct for ASCII; see below for the rest.)
            unsafe { qjs::JS_NewAtomLen(self.ptr, name.as_ptr().cast(), size_t(name.len())) }
        } else {
            let string = self.string(name.as_bytes())?;
            // Safety: `string` is a live string value; the atom returned is
            // a new reference (or `JS_ATOM_NULL` with an exception).
            unsafe { qjs::JS_ValueToAtom(self.ptr, string.v) }
        };
        if atom == qjs::JS_ATOM_NULL {
            return Err(Thrown);
        }
        Ok(AtomRef {
            ctx: self.ptr,
            atom,
            _brand: PhantomData,
        })
    }

    /// An atom for a property name given as UTF-16 code units (lone
    /// surrogates allowed), one reference owned.
    pub(crate) fn atom_utf16(&self, units: &[u16]) -> Result<AtomRef<'js>, Thrown> {
        let string = self.string_utf16(units)?;
        // Safety: `string` is a live string value; the atom returned is a
        // new reference (or `JS_ATOM_NULL` with an exception).
        let atom = unsafe { qjs::JS_ValueToAtom(self.ptr, string.v) };
        if atom == qjs::JS_ATOM_NULL {
            return Err(Thrown);
        }
        Ok(AtomRef {
            ctx: self.ptr,
            atom,
            _brand: PhantomData,
        })
    }

    /// The bytes of an atom's name as (possibly ill-formed) UTF-8; `None`
    /// if that failed (exception discarded).
    pub(crate) fn atom_name(&self, atom: Atom<'_>) -> Option<Utf8<'js>> {
        let mut len = 0;
        // Safety: `atom` is alive while its `Keys` table is (it holds a
        // reference); the result is a C string freed by `Utf8`'s drop.
        let ptr = unsafe { qjs::JS_AtomToCStringLen(self.ptr, &mut len, atom.atom) };
        self.utf8(ptr, from_size_t(len))
    }

    fn utf8(&self, ptr: *const std::ffi::c_char, len: usize) -> Option<Utf8<'js>> {
        if ptr.is_null() {
            self.discard_exception();
            return None;
        }
        Some(Utf8 {
            ctx: self.ptr,
            ptr,
            len,
            _brand: PhantomData,
        })
    }
}

impl<'js> Js<'js> {
    /// What the value is.
    #[inline]
    pub(crate) fn kind(&self) -> Kind {
        let v = self.v;
        let classes = builtin_classes(self.ctx);
        // Safety: tag and payload reads of a live value; the predicates
        // only read the object's class and flags.
        unsafe {
            match qjs::JS_VALUE_GET_NORM_TAG(v) {
                qjs::JS_TAG_UNDEFINED | qjs::JS_TAG_UNINITIALIZED => Kind::Undefined,
                qjs::JS_TAG_NULL => Kind::Null,
                qjs::JS_TAG_BOOL => Kind::Bool(qjs::JS_VALUE_GET_BOOL(v)),
                qjs::JS_TAG_INT => Kind::Number(f64::from(qjs::JS_VALUE_GET_INT(v))),
                qjs::JS_TAG_FLOAT64 => Kind::Number(qjs::JS_VALUE_GET_FLOAT64(v)),
                qjs::JS_TAG_STRING | qjs::JS_TAG_STRING_ROPE => Kind::String,
                qjs::JS_TAG_BIG_INT | qjs::JS_TAG_SHORT_BIG_INT => Kind::BigInt,
                qjs::JS_TAG_SYMBOL => Kind::Symbol,
                qjs::JS_TAG_OBJECT => {
                    // Fast paths: an ordinary object is not a function
                    // unless its constructor bit was set from C.
                    let class = qjs::JS_GetClassID(v);
                    if class == classes.object && !qjs::JS_IsConstructor(self.ctx, v) {
                        return Kind::Object;
                    }
                    if class == classes.array {
                        return Kind::Array;
                    }
                    if qjs::JS_IsArray(v) {
                        Kind::Array
                    } else if qjs::JS_IsConstructor(self.ctx, v) || qjs::JS_IsFunction(self.ctx, v)
                    {
                        Kind::Function
                    } else if qjs::JS_PromiseState(self.ctx, v) >= 0 {
                        Kind::Promise
                    } else if !qjs::JS_IsError(v) && qjs::JS_IsProxy(v) {
                        Kind::Proxy
                    } else {
                        Kind::Exotic
                    }
                }
                _ => Kind::Internal,
            }
        }
    }

    /// The object's identity (its address), for cycle detection; 0 for
    /// values that are not objects.
    pub(crate) fn identity(&self) -> usize {
        // Safety: reading the tag and payload of a live value.
        unsafe {
            if qjs::JS_VALUE_GET_NORM_TAG(self.v) == qjs::JS_TAG_OBJECT {
                qjs::JS_VALUE_GET_PTR(self.v) as usize
            } else {
                0
            }
        }
    }

    fn sibling(&self, v: JSValue) -> Option<Js<'js>> {
        // Safety: reading the tag of a value.
        if unsafe { qjs::JS_IsException(v) } {
            // Safety: an exception is pending; take and free it.
            drop(Js {
                ctx: self.ctx,
                v: unsafe { qjs::JS_GetException(self.ctx) },
                _brand: PhantomData,
            });
            return None;
        }
        Some(Js {
            ctx: self.ctx,
            v,
            _brand: PhantomData,
        })
    }

    /// Whether this is a `Uint8Array` (not a subclass check: its class).
    pub(crate) fn is_uint8_array(&self) -> bool {
        // Safety: reads the object's class id.
        unsafe {
            qjs::JS_GetTypedArrayType(self.v) == qjs::JSTypedArrayEnum_JS_TYPED_ARRAY_UINT8 as i32
        }
    }

    /// Appends a `Uint8Array`'s bytes to `out`; `false` if its buffer is
    /// detached or out of bounds (exception discarded).
    pub(crate) fn append_uint8_bytes(&self, out: &mut Vec<u8>) -> bool {
        let mut len = 0;
        // Safety: `JS_GetUint8Array` checks the class and bounds and
        // returns the live bytes; they are copied before anything else
        // runs (no JavaScript can detach or resize the buffer meanwhile).
        unsafe {
            let ptr = qjs::JS_GetUint8Array(self.ctx, &mut len, self.v);
            if ptr.is_null() {
                if qjs::JS_HasException(self.ctx) {
                    drop(self.sibling(qjs::JS_EXCEPTION));
                    return false;
                }
                // An empty array may have no storage at all.
                return len == 0;
            }
            out.extend_from_slice(std::slice::from_raw_parts(ptr, from_size_t(len)));
        }
        true
    }

    /// Whether `Object.getPrototypeOf(this)` (which a Proxy may trap) is
    /// `null` or the object with identity `proto`; `false` if it threw
    /// (exception discarded).
    pub(crate) fn has_plain_prototype(&self, proto: usize) -> bool {
        // Safety: returns a new reference or an exception.
        self.sibling(unsafe { qjs::JS_GetPrototype(self.ctx, self.v) })
            .is_some_and(|p| {
                // Safety: reading the tag of a live value.
                let null = unsafe { qjs::JS_IsNull(p.v) };
                null || p.identity() == proto
            })
    }

    /// The `length` of an array-like; `None` if reading it threw
    /// (exception discarded).
    pub(crate) fn length(&self) -> Option<i64> {
        let mut len = 0;
        // Safety: `JS_GetLength` reads the property into `len`.
        if unsafe { qjs::JS_GetLength(self.ctx, self.v, &mut len) } < 0 {
            drop(self.sibling(qjs::JS_EXCEPTION));
            return None;
        }
        Some(len)
    }

    /// `this[index]`, getters and prototype included; `None` if it threw
    /// (exception discarded).
    pub(crate) fn index(&self, index: u32) -> Option<Js<'js>> {
        // Safety: returns a new reference or an exception.
        self.sibling(unsafe { qjs::JS_GetPropertyUint32(self.ctx, self.v, index) })
    }

    /// `this[key]`, getters included; `None` if it threw (exception
    /// discarded).
    pub(crate) fn get(&self, key: Atom<'_>) -> Option<Js<'js>> {
        // Safety: `key` is alive (its `Keys` table holds a reference);
        // returns a new reference or an exception.
        self.sibling(unsafe { qjs::JS_GetProperty(self.ctx, self.v, key.atom) })
    }

    /// The own enumerable string-keyed property names, in `Object.keys`
    /// order; `None` if that threw (exception discarded).
    pub(crate) fn keys(&self) -> Option<Keys<'js>> {
        let mut tab = std::ptr::null_mut();
        let mut len = 0;
        let flags = (qjs::JS_GPN_STRING_MASK | qjs::JS_GPN_ENUM_ONLY) as i32;
        // Safety: on success QuickJS stores a table of `len` entries, each
        // holding an atom reference, which `Keys`'s drop frees.
        if unsafe { qjs::JS_GetOwnPropertyNames(self.ctx, &mut tab, &mut len, self.v, flags) } < 0 {
            drop(self.sibling(qjs::JS_EXCEPTION));
            return None;
        }
        Some(Keys {
            ctx: self.ctx,
            tab,
            len,
            _brand: PhantomData,
        })
    }

    /// The string's contents as UTF-8, with lone surrogates encoded as
    /// three-byte sequences (WTF-8); `None` if converting failed
    /// (exception discarded).
    pub(crate) fn utf8(&self) -> Option<Utf8<'js>> {
        let mut len = 0;
        // Safety: returns a C string (freed by `Utf8`'s drop) or null with
        // an exception.
        let ptr = unsafe { qjs::JS_ToCStringLen2(self.ctx, &mut len, self.v, false) };
        if ptr.is_null() {
            drop(self.sibling(qjs::JS_EXCEPTION));
            return None;
        }
        Some(Utf8 {
            ctx: self.ctx,
            ptr,
            len: from_size_t(len),
            _brand: PhantomData,
        })
    }

    /// A BigInt's value if it fits 64 bits without loss.
    pub(crate) fn small_bigint(&self) -> Option<i64> {
        // Safety: reading the tag; `JS_ToBigInt64` of a short BigInt is
        // exact (short BigInts have at most 64 bits) and cannot fail.
        unsafe {
            if qjs::JS_VALUE_GET_TAG(self.v) != qjs::JS_TAG_SHORT_BIG_INT {
                return None;
            }
            let mut n = 0;
            (qjs::JS_ToBigInt64(self.ctx, &mut n, self.v) == 0).then_some(n)
        }
    }

    /// `String(this)` for a primitive; `None` if it threw (exception
    /// discarded).
    pub(crate) fn to_string(&self) -> Option<Js<'js>> {
        // Safety: returns a new reference or an exception.
        self.sibling(unsafe { qjs::JS_ToString(self.ctx, self.v) })
    }

    /// Defines an own enumerable, writable, configurable data property
    /// (as structured clone and `JSON.parse` do: no setter runs, a
    /// `__proto__` key stays a key).
    pub(crate) fn define(&self, key: Atom<'_>, value: Js<'js>) -> Result<(), Thrown> {
        let v = value.v;
        std::mem::forget(value);
        // Safety: `JS_DefinePropertyValue` takes the reference `value`
        // owned (also on failure); `key` is alive while it is borrowed.
        let r = unsafe {
            qjs::JS_DefinePropertyValue(self.ctx, self.v, key.atom, v, qjs::JS_PROP_C_W_E as i32)
        };
        if r < 0 { Err(Thrown) } else { Ok(()) }
    }
}

/// Values under construction: the elements of arrays being decoded.
/// Holds one reference to each value until it is made into an array.
pub(crate) struct Stack<'js> {
    ctx: *mut qjs::JSContext,
    values: Vec<JSValue>,
    _brand: PhantomData<Ctx<'js>>,
}

impl<'js> Stack<'js> {
    pub(crate) fn new(raw: &Raw<'js>) -> Stack<'js> {
        Stack {
            ctx: raw.ptr,
            values: Vec::new(),
            _brand: PhantomData,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    pub(crate) fn push(&mut self, value: Js<'js>) {
        debug_assert_eq!(value.ctx, self.ctx);
        self.values.push(value.v);
        std::mem::forget(value);
    }

    /// An array of the values from `from` on, which leave the stack.
    pub(crate) fn array_from(&mut self, from: usize) -> Result<Js<'js>, Thrown> {
        let from = from.min(self.values.len());
        let items = &self.values[from..];
        let Ok(count) = i32::try_from(items.len()) else {
            let raw_ctx = self.ctx;
            // Safety: throwing a RangeError with a static message.
            unsafe { qjs::JS_ThrowRangeError(raw_ctx, c"invalid array length".as_ptr()) };
            return Err(Thrown);
        };
        // Safety: `items` are `count` values this stack owns; QuickJS takes
        // all of them (also when it fails), so they leave the stack without
        // being freed here.
        let v = unsafe { qjs::JS_NewArrayFrom(self.ctx, count, items.as_ptr()) };
        self.values.truncate(from);
        // Safety: reading the tag.
        if unsafe { qjs::JS_IsException(v) } {
            return Err(Thrown);
        }
        Ok(Js {
            ctx: self.ctx,
            v,
            _brand: PhantomData,
        })
    }
}

impl Drop for Stack<'_> {
    fn drop(&mut self) {
        for &v in &self.values {
            // Safety: the stack owns one reference to each value left.
            unsafe { qjs::JS_FreeValue(self.ctx, v) };
        }
    }
}

/// A C string made by QuickJS (UTF-8, or WTF-8 when the string has lone
/// surrogates). The bytes belong to a string whose reference this holds.
pub(crate) struct Utf8<'js> {
    ctx: *mut qjs::JSContext,
    ptr: *const std::ffi::c_char,
    len: usize,
    _brand: PhantomData<Ctx<'js>>,
}

impl Utf8<'_> {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        // Safety: QuickJS returned `len` bytes at `ptr`, part of an
        // immutable string kept alive until our drop.
        unsafe { std::slice::from_raw_parts(self.ptr.cast(), self.len) }
    }
}

impl Drop for Utf8<'_> {
    fn drop(&mut self) {
        // Safety: `ptr` came from `JS_ToCStringLen2`/`JS_AtomToCStringLen`
        // and is freed once, here.
        unsafe { qjs::JS_FreeCString(self.ctx, self.ptr) }
    }
}

/// The property names of an object (one atom reference each).
pub(crate) struct Keys<'js> {
    ctx: *mut qjs::JSContext,
    tab: *mut qjs::JSPropertyEnum,
    len: u32,
    _brand: PhantomData<Ctx<'js>>,
}

/// A property name, borrowed from whatever holds a reference to it (a
/// [`Keys`] table, an [`AtomRef`], the [`KeyCache`]).
#[derive(Clone, Copy)]
pub(crate) struct Atom<'k> {
    atom: qjs::JSAtom,
    _keys: PhantomData<&'k ()>,
}

impl Keys<'_> {
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    /// The `i`th name; `None` past the end.
    pub(crate) fn get(&self, i: usize) -> Option<Atom<'_>> {
        if i >= self.len() {
            return None;
        }
        // Safety: `tab` has `len` initialised entries and `i < len`.
        let entry = unsafe { &*self.tab.add(i) };
        Some(Atom {
            atom: entry.atom,
            _keys: PhantomData,
        })
    }
}

impl Drop for Keys<'_> {
    fn drop(&mut self) {
        // Safety: `tab` and `len` came from `JS_GetOwnPropertyNames` and
        // are freed once, here (with their atom references).
        unsafe { qjs::JS_FreePropertyEnum(self.ctx, self.tab, self.len) }
    }
}

/// One reference to an atom.
pub(crate) struct AtomRef<'js> {
    ctx: *mut qjs::JSContext,
    atom: qjs::JSAtom,
    _brand: PhantomData<Ctx<'js>>,
}

impl AtomRef<'_> {
    pub(crate) fn id(&self) -> Atom<'_> {
        Atom {
            atom: self.atom,
            _keys: PhantomData,
        }
    }
}

impl Drop for AtomRef<'_> {
    fn drop(&mut self) {
        // Safety: this handle owns one reference to `atom`.
        unsafe { qjs::JS_FreeAtom(self.ctx, self.atom) }
    }
}

/// Sets in each [`KeyCache`] table: 64 sets of 2 hold the keys of a typical
/// service's values (a few dozen names) with few conflicts, in 4 KiB per
/// table.
const KEY_CACHE_SETS: usize = 64;
const KEY_CACHE_WAYS: usize = 2;
/// Longest name cached, in bytes (so that a slot is 32 bytes).
const KEY_CACHE_MAX: usize = 27;

#[derive(Clone, Copy)]
struct Slot {
    /// `JS_ATOM_NULL` when empty; else the cache holds one reference.
    atom: qjs::JSAtom,
    len: u8,
    name: [u8; KEY_CACHE_MAX],
}

const EMPTY_SLOT: Slot = Slot {
    atom: qjs::JS_ATOM_NULL,
    len: 0,
    name: [0; KEY_CACHE_MAX],
};

impl Slot {
    fn name(&self) -> &[u8] {
        &self.name[..usize::from(self.len)]
    }
}

/// The property names an isolate recently sent or received, as atoms and
/// as UTF-8, so that the codec neither hashes a received key to find its
/// atom nor converts a sent key's atom to UTF-8 every time. Two small
/// set-associative tables: by name (decoding) and by atom (encoding).
///
/// Each cached atom holds a reference, so its number cannot be reused for
/// another name while it is cached. The references belong to one runtime
/// (`runtime`, checked on every use) and are released by
/// [`release`](KeyCache::release) while it is alive; a cache dropped
/// without that leaks them, which is harmless (they are freed with the
/// runtime).
pub(crate) struct KeyCache {
    runtime: *mut qjs::JSRuntime,
    by_name: Vec<Slot>,
    by_atom: Vec<Slot>,
}

impl Default for KeyCache {
    fn default() -> KeyCache {
        KeyCache {
            runtime: std::ptr::null_mut(),
            by_name: Vec::new(),
            by_atom: Vec::new(),
        }
    }
}

/// An atom for a received key: cached, or made for this one use.
pub(crate) enum KeyAtom<'c, 'js> {
    Cached(Atom<'c>),
    Fresh(AtomRef<'js>),
}

impl KeyAtom<'_, '_> {
    pub(crate) fn id(&self) -> Atom<'_> {
        match self {
            KeyAtom::Cached(a) => *a,
            KeyAtom::Fresh(a) => a.id(),
        }
    }
}

/// The UTF-8 name of a sent key: cached, or converted for this one use
/// (then possibly ill-formed: lone surrogates as WTF-8).
pub(crate) enum KeyName<'c, 'js> {
    Cached(&'c [u8]),
    Fresh(Utf8<'js>),
}

/// The first and last eight bytes of a name as words (zero-padded, and
/// both the whole name, below eight bytes). With the length they identify
/// a name of up to 16 bytes; they are read with fixed-size loads, no call.
fn name_words(name: &[u8]) -> (u64, u64) {
    let len = name.len();
    if len >= 8 {
        let mut head = [0u8; 8];
        let mut tail = [0u8; 8];
        head.copy_from_slice(&name[..8]);
        tail.copy_from_slice(&name[len - 8..]);
        (u64::from_le_bytes(head), u64::from_le_bytes(tail))
    } else {
        let w = name
            .iter()
            .enumerate()
            .fold(0u64, |w, (i, &b)| w | (u64::from(b) << (8 * i)));
        (w, w)
    }
}

/// Which set of the by-name table holds a name: a multiplicative hash of
/// its length and [`name_words`].
fn name_set(len: usize, (head, tail): (u64, u64)) -> usize {
    let h = (head ^ tail.rotate_left(29) ^ len as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> 58) as usize % KEY_CACHE_SETS
}

impl Slot {
    /// Whether this slot caches `name` (whose words are `words`).
    fn holds(&self, name: &[u8], words: (u64, u64)) -> bool {
        self.atom != qjs::JS_ATOM_NULL
            && usize::from(self.len) == name.len()
            && name_words(self.name()) == words
            && (name.len() <= 16 || self.name() == name)
    }
}

impl KeyCache {
    /// Makes the tables usable for `raw`'s runtime (allocating them on
    /// first use). A cache met with another runtime forgets its entries
    /// without releasing them (they belong to that runtime). Runtimes are
    /// told apart by address, so a cache must not outlive its runtime: a
    /// runtime allocated later at the same address would find stale atoms.
    /// The isolate owns its codec (and so its cache) and drops it with the
    /// runtime; a codec made for a reentrant use is released before the
    /// host call returns.
    #[inline]
    fn attach(&mut self, raw: &Raw<'_>) {
        if self.runtime != raw.runtime {
            self.by_name.clear();
            self.by_atom.clear();
            self.runtime = raw.runtime;
        }
        if self.by_name.is_empty() {
            self.by_name = vec![EMPTY_SLOT; KEY_CACHE_SETS * KEY_CACHE_WAYS];
            self.by_atom = vec![EMPTY_SLOT; KEY_CACHE_SETS * KEY_CACHE_WAYS];
        }
    }

    /// Puts `slot` first in its set, evicting the set's last entry.
    fn insert(raw: &Raw<'_>, set: &mut [Slot], slot: Slot) {
        let last = set.len() - 1;
        if set[last].atom != qjs::JS_ATOM_NULL {
            // Safety: the cache holds one reference to each cached atom.
            unsafe { qjs::JS_FreeAtom(raw.ptr, set[last].atom) };
        }
        set.copy_within(0..last, 1);
        set[0] = slot;
    }

    /// The atom for a received key, `None` if `bytes` are not UTF-8.
    /// (Only UTF-8 is ever cached, so a hit needs no check.) Inlined into
    /// the decoder, its one caller, where it is the cost of every key.
    #[inline(always)]
    pub(crate) fn atom<'c, 'js>(
        &'c mut self,
        raw: &Raw<'js>,
        bytes: &[u8],
    ) -> Result<Option<KeyAtom<'c, 'js>>, Thrown> {
        if bytes.len() > KEY_CACHE_MAX {
            let Ok(name) = std::str::from_utf8(bytes) else {
                return Ok(None);
            };
            return raw.atom(name).map(|a| Some(KeyAtom::Fresh(a)));
        }
        self.attach(raw);
        let words = name_words(bytes);
        let start = name_set(bytes.len(), words) * KEY_CACHE_WAYS;
        let set = &mut self.by_name[start..start + KEY_CACHE_WAYS];
        for slot in set.iter() {
            if slot.holds(bytes, words) {
                return Ok(Some(KeyAtom::Cached(Atom {
                    atom: slot.atom,
                    _keys: PhantomData,
                })));
            }
        }
        let Ok(name) = std::str::from_utf8(bytes) else {
            return Ok(None);
        };
        let fresh = raw.atom(name)?;
        let mut slot = Slot {
            atom: fresh.atom,
            len: bytes.len() as u8,
            name: [0; KEY_CACHE_MAX],
        };
        slot.name[..bytes.len()].copy_from_slice(bytes);
        // The reference `fresh` owned moves into the cache.
        std::mem::forget(fresh);
        Self::insert(raw, set, slot);
        Ok(Some(KeyAtom::Cached(Atom {
            atom: slot.atom,
            _keys: PhantomData,
        })))
    }

    /// The UTF-8 name of a sent key (`None` if converting it failed,
    /// exception discarded). Only well-formed names are cached.
    #[inline]
    pub(crate) fn name<'c, 'js>(
        &'c mut self,
        raw: &Raw<'js>,
        atom: Atom<'_>,
    ) -> Option<KeyName<'c, 'js>> {
        self.attach(raw);
        let start = (atom.atom as usize % KEY_CACHE_SETS) * KEY_CACHE_WAYS;
        let set = &mut self.by_atom[start..start + KEY_CACHE_WAYS];
        if let Some(i) = set.iter().position(|s| s.atom == atom.atom) {
            return Some(KeyName::Cached(set[i].name()));
        }
        let name = raw.atom_name(atom)?;
        let bytes = name.as_bytes();
        if bytes.len() > KEY_CACHE_MAX || std::str::from_utf8(bytes).is_err() {
            return Some(KeyName::Fresh(name));
        }
        let mut slot = Slot {
            // Safety: `atom` is alive (borrowed); the new reference is the
            // cache's.
            atom: unsafe { qjs::JS_DupAtom(raw.ptr, atom.atom) },
            len: bytes.len() as u8,
            name: [0; KEY_CACHE_MAX],
        };
        slot.name[..bytes.len()].copy_from_slice(bytes);
        Self::insert(raw, set, slot);
        Some(KeyName::Cached(set[0].name()))
    }

    /// Releases every cached atom; `raw` must belong to the runtime the
    /// atoms came from, or they are only forgotten.
    pub(crate) fn release(&mut self, raw: &Raw<'_>) {
        let same = raw.runtime == self.runtime;
        for slot in self.by_name.drain(..).chain(self.by_atom.drain(..)) {
            if same && slot.atom != qjs::JS_ATOM_NULL {
                // Safety: the cache holds one reference to each cached
                // atom, of this runtime.
                unsafe { qjs::JS_FreeAtom(raw.ptr, slot.atom) };
            }
        }
    }
}
