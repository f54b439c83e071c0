//! The C ABI.
//!
//! Conventions, which every function in this module follows:
//!
//! * Every function returns a [`trimtab_status`]; results come back through out-pointers
//!   (`*_out`), which are written only on success.
//! * Every exported function runs inside a panic boundary: a panic becomes
//!   `TRIMTAB_STATUS_PANIC` and is never unwound into C.
//! * The message of the last error on the calling thread is read with
//!   [`trimtab_last_error`].
//! * Every object made by `*_new` is released by the matching `*_free`, which accepts NULL.
//!   Handles carry an internal lock, so a handle may be used from several threads.
//! * Ids are integers chosen by the host; names are UTF-8 with an explicit length.
//!
//! This is the only module where `unsafe` is allowed; every `unsafe` block says why it holds.

#![allow(unsafe_code)]
// The C names of types are lower snake case on purpose (`trimtab_status`).
#![allow(non_camel_case_types)]

use std::cell::RefCell;
use std::ffi::{c_char, c_uint, CStr};

pub mod health;
pub mod migration;
pub mod partition;
pub mod placement;
pub mod throttle;
pub mod topology;

/// Status code returned by every function of the C ABI.
///
/// Numbers are stable and never reused: a retired code stays here as a comment. Each part
/// owns a range: 100-199 topology, 200-299 placement, 300-399 throttle, 400-499 migration,
/// 500-599 health, 600-699 partition.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum trimtab_status {
    /// Success.
    Ok = 0,
    /// A pointer argument that must not be NULL was NULL.
    NullParameter = 1,
    /// An argument was out of range or malformed (not valid UTF-8, a NaN, ...).
    InvalidArgument = 2,
    /// A caller buffer was too short; the size needed was written where the call says.
    BufferTooShort = 3,
    /// A panic was caught at the ABI boundary. The handle is still usable (its state is
    /// unchanged by the failed call) but this is a bug: please report it.
    Panic = 4,
    /// A queue or table is at its capacity.
    CapacityExceeded = 5,
    /// The requested item (a device, a placement group, a task, a node) does not exist.
    NotFound = 6,
    /// A topology change was rejected (duplicate id, malformed location, bad weight, ...).
    TopologyInvalid = 100,
    /// A snapshot could not be restored (unknown version, truncated, corrupted).
    SnapshotInvalid = 101,
    /// A placement rule or pool could not be used with this map.
    PlacementInvalid = 200,
    /// A whole-request throttle check was larger than a bucket's burst and could never
    /// pass: reserve it or take it in pieces.
    ThrottleExceedsBurst = 300,
    /// A throttle node id was added twice.
    ThrottleDuplicateNode = 301,
    /// Reported progress was beyond the bytes granted or the task's size, or went backwards.
    MigrationInvalidProgress = 400,
    /// The call needs a running task (progress, completion, failure) and the task is not.
    MigrationNotRunning = 401,
    /// A partition detector node was registered twice.
    PartitionDuplicateNode = 600,
    /// A connectivity report listed a peer that is not registered.
    PartitionUnknownPeer = 601,
    /// A failure-detector or disk-health configuration was rejected.
    HealthConfigInvalid = 500,
    /// A node or device is already tracked.
    HealthDuplicate = 501,
}

impl trimtab_status {
    /// The static description of a raw status value; unknown values are accepted.
    fn message(code: c_uint) -> &'static CStr {
        match code {
            0 => c"ok",
            1 => c"a required pointer argument was NULL",
            2 => c"invalid argument",
            3 => c"buffer too short",
            4 => c"panic caught at the C ABI boundary (a bug in trimtab)",
            5 => c"capacity exceeded",
            6 => c"not found",
            100 => c"topology change rejected",
            101 => c"snapshot rejected",
            200 => c"placement rule rejected",
            300 => c"request exceeds the throttle burst",
            301 => c"throttle node already exists",
            400 => c"invalid migration progress",
            401 => c"migration task is not running",
            600 => c"partition: node already registered",
            601 => c"partition: report lists an unregistered peer",
            500 => c"health configuration rejected",
            501 => c"node or device already tracked",
            _ => c"unknown status code",
        }
    }
}

impl From<&crate::Error> for trimtab_status {
    fn from(e: &crate::Error) -> Self {
        use crate::placement::PlacementError as P;
        use crate::topology::TopologyError as T;
        match e {
            crate::Error::Topology(T::Snapshot(_)) => trimtab_status::SnapshotInvalid,
            crate::Error::Topology(T::UnknownDevice(_)) => trimtab_status::NotFound,
            crate::Error::Topology(_) => trimtab_status::TopologyInvalid,
            crate::Error::Placement(P::UnknownPg { .. }) => trimtab_status::NotFound,
            crate::Error::Placement(P::BufferTooShort { .. }) => trimtab_status::BufferTooShort,
            crate::Error::Placement(P::InvalidArgument(_)) => trimtab_status::InvalidArgument,
            crate::Error::Placement(P::Snapshot(_)) => trimtab_status::SnapshotInvalid,
            crate::Error::Placement(_) => trimtab_status::PlacementInvalid,
            crate::Error::Throttle(t) => t.into(),
            crate::Error::Migration(m) => m.into(),
            crate::Error::Partition(p) => partition::status_of(p),
            crate::Error::Health(h) => health::status_of(h),
        }
    }
}

impl From<&crate::throttle::ThrottleError> for trimtab_status {
    fn from(e: &crate::throttle::ThrottleError) -> Self {
        use crate::throttle::ThrottleError as E;
        match e {
            E::ExceedsBurst { .. } => trimtab_status::ThrottleExceedsBurst,
            E::DuplicateNode(_) => trimtab_status::ThrottleDuplicateNode,
            E::UnknownNode(_) => trimtab_status::NotFound,
            E::CapacityExceeded(_) => trimtab_status::CapacityExceeded,
            _ => trimtab_status::InvalidArgument,
        }
    }
}

impl From<&crate::migration::MigrationError> for trimtab_status {
    fn from(e: &crate::migration::MigrationError) -> Self {
        use crate::migration::MigrationError as E;
        match e {
            E::UnknownTask(_) => trimtab_status::NotFound,
            E::CapacityExceeded { .. } => trimtab_status::CapacityExceeded,
            E::InvalidProgress { .. } => trimtab_status::MigrationInvalidProgress,
            E::NotRunning(_) => trimtab_status::MigrationNotRunning,
            E::Throttle(t) => t.into(),
            _ => trimtab_status::InvalidArgument,
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Records `msg` as the calling thread's last error.
pub(crate) fn set_last_error(msg: impl Into<String>) {
    let msg = msg.into();
    LAST_ERROR.with(|e| *e.borrow_mut() = msg);
}

/// Records a crate error and returns its status.
pub(crate) fn fail(e: impl Into<crate::Error>) -> trimtab_status {
    let e = e.into();
    set_last_error(e.to_string());
    trimtab_status::from(&e)
}

/// Records a message and returns `status`.
pub(crate) fn fail_with(status: trimtab_status, msg: impl Into<String>) -> trimtab_status {
    set_last_error(msg);
    status
}

/// Runs `f` behind a panic boundary: a panic becomes `TRIMTAB_STATUS_PANIC`.
pub(crate) fn boundary(f: impl FnOnce() -> trimtab_status) -> trimtab_status {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(s) => s,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            set_last_error(format!("panic caught at the C ABI boundary: {what}"));
            trimtab_status::Panic
        }
    }
}

/// Returns early with `TRIMTAB_STATUS_NULL_PARAMETER` when a pointer is NULL.
macro_rules! check_null {
    ($($p:ident),+ $(,)?) => {
        $(
            if $p.is_null() {
                return $crate::ffi::fail_with(
                    $crate::ffi::trimtab_status::NullParameter,
                    concat!("`", stringify!($p), "` must not be NULL"),
                );
            }
        )+
    };
}
pub(crate) use check_null;

/// `try_handle!(p)`: the handle behind `p`, or return `TRIMTAB_STATUS_NULL_PARAMETER` from
/// the enclosing closure. Must be used where the exported function's contract promises `p`
/// is NULL or a live handle of this library.
macro_rules! try_handle {
    ($p:expr) => {
        // SAFETY: the enclosing exported function's contract: NULL or a live handle.
        $crate::ffi::ffi_try!(unsafe { $crate::ffi::handle_ref($p) })
    };
}
pub(crate) use try_handle;

/// `ffi_try!(r)`: the value of a `Result<T, trimtab_status>`, or return the status from the
/// enclosing closure (the C ABI's `?`).
macro_rules! ffi_try {
    ($r:expr) => {
        match $r {
            Ok(v) => v,
            Err(s) => return s,
        }
    };
}
pub(crate) use ffi_try;

/// Returns a `&T` for a handle pointer the caller promised is valid, or NULL_PARAMETER.
///
/// # Safety
/// `p` must be NULL or a pointer returned by this library's `*_new` and not yet freed.
pub(crate) unsafe fn handle_ref<'a, T>(p: *const T) -> Result<&'a T, trimtab_status> {
    if p.is_null() {
        return Err(fail_with(trimtab_status::NullParameter, "handle must not be NULL"));
    }
    // SAFETY: non-NULL and, per the caller's contract, a live Box-allocated object of
    // type T made by this library; handles are never mutated through this reference
    // except behind their internal lock.
    Ok(unsafe { &*p })
}

/// Reads a caller slice `(ptr, len)`; a NULL pointer is allowed only with `len == 0`.
///
/// # Safety
/// When `len > 0`, `ptr` must point to `len` readable, initialized elements.
pub(crate) unsafe fn slice_ref<'a, T>(ptr: *const T, len: usize) -> Result<&'a [T], trimtab_status> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(fail_with(trimtab_status::NullParameter, "buffer pointer is NULL with a non-zero length"));
    }
    // SAFETY: non-NULL, and the caller promises `len` readable elements.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Reads UTF-8 `(ptr, len)` from the caller.
///
/// # Safety
/// As [`slice_ref`].
pub(crate) unsafe fn str_ref<'a>(ptr: *const c_char, len: usize) -> Result<&'a str, trimtab_status> {
    // SAFETY: forwarded contract.
    let bytes = unsafe { slice_ref(ptr.cast::<u8>(), len)? };
    std::str::from_utf8(bytes)
        .map_err(|e| fail_with(trimtab_status::InvalidArgument, format!("name is not valid UTF-8: {e}")))
}

/// Writes `value` through an out-pointer the caller promised is valid.
///
/// # Safety
/// `out` must be non-NULL and valid for one write of `T`.
pub(crate) unsafe fn write_out<T>(out: *mut T, value: T) {
    // SAFETY: per the caller's contract.
    unsafe { out.write(value) }
}

/// Copies `text` (plus a NUL) into a caller buffer, writing the length it needs
/// (excluding the NUL) to `len_out` either way. Returns BUFFER_TOO_SHORT when it does not fit.
///
/// # Safety
/// `buf` must be valid for `cap` bytes of writes (or NULL with `cap == 0`); `len_out` NULL or valid.
pub(crate) unsafe fn copy_text(text: &str, buf: *mut c_char, cap: usize, len_out: *mut usize) -> trimtab_status {
    if !len_out.is_null() {
        // SAFETY: non-NULL, valid per the caller's contract.
        unsafe { len_out.write(text.len()) };
    }
    if buf.is_null() || cap < text.len() + 1 {
        return trimtab_status::BufferTooShort;
    }
    // SAFETY: `buf` holds at least text.len() + 1 bytes per the check above and the contract.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), text.len());
        buf.add(text.len()).write(0);
    }
    trimtab_status::Ok
}

/// The library version as a NUL-terminated static string ("0.1.0"). Never NULL; not freed.
#[no_mangle]
pub extern "C" fn trimtab_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The ABI version this library implements; equal to `TRIMTAB_ABI_VERSION` in a matching
/// header. A host should refuse to run when the two differ.
#[no_mangle]
pub extern "C" fn trimtab_abi_version() -> u32 {
    1
}

/// A static, NUL-terminated description of a status code. Accepts any integer, including
/// values that are not a known `trimtab_status` (they get "unknown status code"). Never NULL;
/// not freed.
#[no_mangle]
pub extern "C" fn trimtab_status_message(status: c_uint) -> *const c_char {
    trimtab_status::message(status).as_ptr()
}

/// Copies the calling thread's last error message into `buf` (NUL-terminated).
///
/// `len_out` (may be NULL) receives the message length without the NUL. When `buf` is NULL
/// or `cap` is too small, nothing is copied and `TRIMTAB_STATUS_BUFFER_TOO_SHORT` is
/// returned, so a caller can ask for the size first. The message is kept until the next
/// failing call on the same thread.
///
/// # Safety
/// `buf` must be NULL or valid for `cap` bytes; `len_out` NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_last_error(buf: *mut c_char, cap: usize, len_out: *mut usize) -> trimtab_status {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        LAST_ERROR.with(|e| {
            let text = e.borrow().clone();
            // SAFETY: forwarded from this function's contract.
            unsafe { copy_text(&text, buf, cap, len_out) }
        })
    })) {
        Ok(s) => s,
        Err(_) => trimtab_status::Panic,
    }
}
