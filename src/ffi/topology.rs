//! C ABI: the cluster map.
//!
//! `trimtab_topology` is Box-owned: made by `trimtab_topology_new` (or `_from_snapshot`,
//! `_from_json_map`, `_clone`), released by `trimtab_topology_free`. It carries a
//! reader-writer lock: calls that take `const trimtab_topology *` may run concurrently;
//! changes are serialised.

use super::{
    boundary, check_null, fail, fail_with, ffi_try, slice_ref, str_ref, trimtab_status, try_handle, write_out,
};
use crate::topology::{DeviceSpec, DeviceState, Topology};
use parking_lot::RwLock;
use std::ffi::c_char;

/// A UTF-8 string with an explicit length (no NUL needed). `ptr` may be NULL when `len` is 0.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct trimtab_str {
    /// The bytes.
    pub ptr: *const c_char,
    /// Their number.
    pub len: usize,
}

/// Device state bit: the device answers.
pub const TRIMTAB_DEVICE_UP: u8 = 0b001;
/// Device state bit: the device takes part in data distribution.
pub const TRIMTAB_DEVICE_IN: u8 = 0b010;
/// Device state bit: the device is being emptied (no new data, its shards move away).
pub const TRIMTAB_DEVICE_DRAINING: u8 = 0b100;

/// A device as the host describes it.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct trimtab_device_spec {
    /// The host's id (`UINT32_MAX` is reserved).
    pub id: u32,
    /// One name per level, in the map's level order.
    pub location: *const trimtab_str,
    /// Number of names in `location` (must equal the number of levels).
    pub location_len: usize,
    /// When false, the weight is derived from the capacity (one unit per 10^12 bytes).
    pub has_weight: bool,
    /// The weight (finite, in [0, 65535]).
    pub weight: f64,
    /// Capacity in bytes.
    pub capacity_bytes: u64,
    /// Used bytes.
    pub used_bytes: u64,
    /// `TRIMTAB_DEVICE_*` bits.
    pub state: u8,
}

/// The cluster map (opaque).
pub struct trimtab_topology {
    pub(crate) inner: RwLock<Topology>,
}

fn boxed(t: Topology, out: *mut *mut trimtab_topology) -> trimtab_status {
    let b = Box::new(trimtab_topology { inner: RwLock::new(t) });
    // SAFETY: callers checked `out` for NULL; it is valid for one write per the contract.
    unsafe { write_out(out, Box::into_raw(b)) };
    trimtab_status::Ok
}

/// Makes an empty map with the given level names (top-down, e.g. "zone", "rack", "host").
///
/// # Safety
/// `levels` must point to `levels_len` valid `trimtab_str` (or be NULL with 0); `out` must be
/// valid for one write. On success `*out` is a new map, to be freed with
/// `trimtab_topology_free`.
#[no_mangle]
pub unsafe extern "C" fn trimtab_topology_new(
    levels: *const trimtab_str,
    levels_len: usize,
    out: *mut *mut trimtab_topology,
) -> trimtab_status {
    boundary(|| {
        check_null!(out);
        // SAFETY: per this function's contract.
        let levels = match unsafe { read_strs(levels, levels_len) } {
            Ok(l) => l,
            Err(s) => return s,
        };
        match Topology::empty(&levels) {
            Ok(t) => boxed(t, out),
            Err(e) => fail(e),
        }
    })
}

/// Frees a map. NULL is accepted and ignored.
///
/// # Safety
/// `t` must be NULL or a map from this library, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn trimtab_topology_free(t: *mut trimtab_topology) {
    if !t.is_null() {
        // SAFETY: made by Box::into_raw in this module and, per the contract, freed once.
        let b = unsafe { Box::from_raw(t) };
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(b)));
    }
}

/// Copies a map (for example to plan a change before applying it).
///
/// # Safety
/// `t` must be a valid map; `out` valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_topology_clone(
    t: *const trimtab_topology,
    out: *mut *mut trimtab_topology,
) -> trimtab_status {
    boundary(|| {
        check_null!(out);
        let t = try_handle!(t);
        let copy = t.inner.read().clone();
        boxed(copy, out)
    })
}

/// Reads a list of `trimtab_str`.
///
/// # Safety
/// As `slice_ref` for the list and for each string.
unsafe fn read_strs(ptr: *const trimtab_str, len: usize) -> Result<Vec<String>, trimtab_status> {
    // SAFETY: forwarded contract.
    let list = unsafe { slice_ref(ptr, len)? };
    list.iter()
        .map(|s| {
            // SAFETY: forwarded contract: each entry points to `len` readable bytes.
            unsafe { str_ref(s.ptr, s.len) }.map(str::to_string)
        })
        .collect()
}

/// Adds devices, all or none. Bumps the epoch.
///
/// # Safety
/// `t` must be a valid map; `specs` must point to `len` valid specs whose `location`
/// arrays hold `location_len` valid strings.
#[no_mangle]
pub unsafe extern "C" fn trimtab_topology_add_devices(
    t: *mut trimtab_topology,
    specs: *const trimtab_device_spec,
    len: usize,
) -> trimtab_status {
    boundary(|| {
        let t = try_handle!(t);
        // SAFETY: per the contract: readable for the given length.
        let specs = ffi_try!(unsafe { slice_ref(specs, len) });
        let mut list = Vec::with_capacity(specs.len());
        let mut guard = t.inner.write();
        for s in specs {
            // SAFETY: per the contract.
            let names = match unsafe { read_strs(s.location, s.location_len) } {
                Ok(n) => n,
                Err(e) => return e,
            };
            if names.len() != guard.levels().len() {
                return fail_with(
                    trimtab_status::TopologyInvalid,
                    format!("device {}: {} location names for {} levels", s.id, names.len(), guard.levels().len()),
                );
            }
            if s.state & !0b111 != 0 {
                return fail_with(
                    trimtab_status::InvalidArgument,
                    format!("device {}: unknown state bits {:#x}", s.id, s.state),
                );
            }
            let location = guard.levels().iter().cloned().zip(names).collect();
            list.push(DeviceSpec {
                id: s.id,
                location,
                weight: s.has_weight.then_some(s.weight),
                capacity_bytes: s.capacity_bytes,
                used_bytes: s.used_bytes,
                state: DeviceState::from_bits_truncate(s.state),
            });
        }
        match guard.add_devices(list) {
            Ok(()) => trimtab_status::Ok,
            Err(e) => fail(e),
        }
    })
}

/// Removes devices, all or none. Bumps the epoch.
///
/// # Safety
/// `t` must be a valid map; `ids` must point to `len` ids (or be NULL with 0).
#[no_mangle]
pub unsafe extern "C" fn trimtab_topology_remove_devices(
    t: *mut trimtab_topology,
    ids: *const u32,
    len: usize,
) -> trimtab_status {
    boundary(|| {
        let t = try_handle!(t);
        // SAFETY: per the contract: readable for the given length.
        let ids = ffi_try!(unsafe { slice_ref(ids, len) });
        match t.inner.write().remove_devices(ids) {
            Ok(()) => trimtab_status::Ok,
            Err(e) => fail(e),
        }
    })
}

/// Sets a device's weight. Bumps the epoch.
///
/// # Safety
/// `t` must be a valid map.
#[no_mangle]
pub unsafe extern "C" fn trimtab_topology_set_weight(t: *mut trimtab_topology, id: u32, weight: f64) -> trimtab_status {
    boundary(|| {
        let t = try_handle!(t);
        match t.inner.write().set_weight(id, weight) {
            Ok(()) => trimtab_status::Ok,
            Err(e) => fail(e),
        }
    })
}

/// Replaces a device's state bits (`TRIMTAB_DEVICE_*`). Bumps the epoch when they change.
///
/// # Safety
/// `t` must be a valid map.
#[no_mangle]
pub unsafe extern "C" fn trimtab_topology_set_state(t: *mut trimtab_topology, id: u32, state: u8) -> trimtab_status {
    boundary(|| {
        let t = try_handle!(t);
        let Some(flags) = DeviceState::from_bits(state) else {
            return fail_with(trimtab_status::InvalidArgument, format!("unknown state bits {state:#x}"));
        };
        match t.inner.write().set_state(id, flags) {
            Ok(()) => trimtab_status::Ok,
            Err(e) => fail(e),
        }
    })
}

/// Records a device's used bytes (does not bump the epoch).
///
/// # Safety
/// `t` must be a valid map.
#[no_mangle]
pub unsafe extern "C" fn trimtab_topology_set_used_bytes(
    t: *mut trimtab_topology,
    id: u32,
    used_bytes: u64,
) -> trimtab_status {
    boundary(|| {
        let t = try_handle!(t);
        match t.inner.write().set_used_bytes(id, used_bytes) {
            Ok(()) => trimtab_status::Ok,
            Err(e) => fail(e),
        }
    })
}

/// The map's epoch.
///
/// # Safety
/// `t` must be a valid map; `out` valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_topology_epoch(t: *const trimtab_topology, out: *mut u64) -> trimtab_status {
    boundary(|| {
        check_null!(out);
        let t = try_handle!(t);
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out, t.inner.read().epoch()) };
        trimtab_status::Ok
    })
}

/// The number of devices in the map.
///
/// # Safety
/// `t` must be a valid map; `out` valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_topology_device_count(t: *const trimtab_topology, out: *mut usize) -> trimtab_status {
    boundary(|| {
        check_null!(out);
        let t = try_handle!(t);
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out, t.inner.read().devices().len()) };
        trimtab_status::Ok
    })
}

/// Writes the map's snapshot (versioned, checksummed JSON, NUL-terminated) into `buf`.
/// `len_out` receives the length without the NUL; when `buf` is NULL or `cap` is too small,
/// returns `TRIMTAB_STATUS_BUFFER_TOO_SHORT` and copies nothing.
///
/// # Safety
/// `t` must be a valid map; `buf` NULL or valid for `cap` bytes; `len_out` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn trimtab_topology_snapshot(
    t: *const trimtab_topology,
    buf: *mut c_char,
    cap: usize,
    len_out: *mut usize,
) -> trimtab_status {
    boundary(|| {
        let t = try_handle!(t);
        let text = t.inner.read().to_snapshot();
        // SAFETY: per the contract.
        let s = unsafe { super::copy_text(&text, buf, cap, len_out) };
        if s == trimtab_status::BufferTooShort {
            super::set_last_error(format!("snapshot needs {} bytes plus a NUL", text.len()));
        }
        s
    })
}

/// Restores a map from `trimtab_topology_snapshot`'s text.
///
/// # Safety
/// `text` must point to `len` readable bytes; `out` valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_topology_from_snapshot(
    text: *const c_char,
    len: usize,
    out: *mut *mut trimtab_topology,
) -> trimtab_status {
    boundary(|| {
        check_null!(out);
        // SAFETY: per the contract.
        let text = match unsafe { str_ref(text, len) } {
            Ok(t) => t,
            Err(s) => return s,
        };
        match Topology::from_snapshot(text) {
            Ok(t) => boxed(t, out),
            Err(e) => fail(e),
        }
    })
}

/// Builds a map from the operators' JSON map file format (see the README).
///
/// # Safety
/// `text` must point to `len` readable bytes; `out` valid for one write.
#[no_mangle]
pub unsafe extern "C" fn trimtab_topology_from_json_map(
    text: *const c_char,
    len: usize,
    out: *mut *mut trimtab_topology,
) -> trimtab_status {
    boundary(|| {
        check_null!(out);
        // SAFETY: per the contract.
        let text = match unsafe { str_ref(text, len) } {
            Ok(t) => t,
            Err(s) => return s,
        };
        match Topology::from_json_map(text) {
            Ok(t) => boxed(t, out),
            Err(e) => fail(e),
        }
    })
}
