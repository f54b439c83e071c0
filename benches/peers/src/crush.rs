//! Ceph's CRUSH (straw2, `chooseleaf firstn`) through `crush-sys`, which compiles Ceph's
//! libcrush C code (`mapper.c`, `builder.c`, `hash.c`). The map is built from a trimtab
//! [`Topology`] so that both sides see the same tree, the same weights and the same device
//! ids; bucket ids are kept in a [`CrushIds`] allocator so that a bucket keeps its id across
//! maps (a host added later gets a new id, every other bucket keeps its own), as in a real
//! Ceph cluster whose map is edited.
//!
//! Mapping a PG follows Ceph's `OSDMap::_pg_to_raw_osds` and `CrushWrapper::do_rule`:
//! `x = crush_hash32_2(RJENKINS1, ps, pool)` (a `hashpspool` pool), a fresh workspace
//! initialized with `crush_init_workspace` on every call, the per-device reweight vector
//! (0x10000 = in, 0 = out) and the optimal tunables (`choose_total_tries` 50,
//! `chooseleaf_descend_once`, `chooseleaf_vary_r` 1, `chooseleaf_stable` 1).

use std::collections::BTreeMap;
use std::os::raw::{c_int, c_void};

use crush_sys as sys;
use trimtab::topology::{Node, Topology};

/// The pool id hashed into every PG's input, as Ceph does for `hashpspool` pools.
pub const POOL: u32 = 1;

/// Stable CRUSH bucket ids by (depth, name), shared by the maps of one scenario.
#[derive(Debug, Default, Clone)]
pub struct CrushIds {
    ids: BTreeMap<(usize, String), c_int>,
}

impl CrushIds {
    fn id(&mut self, depth: usize, name: &str) -> c_int {
        let next = -1 - self.ids.len() as c_int;
        *self.ids.entry((depth, name.to_string())).or_insert(next)
    }
}

/// A CRUSH map with one replicated rule (`take root; chooseleaf firstn 0 type <domain>;
/// emit`), its workspace and its reweight vector.
pub struct Crush {
    map: *mut sys::crush_map,
    rule: c_int,
    /// Workspace, 8-byte aligned, re-initialized per call as Ceph does.
    work: Vec<u64>,
    /// Ceph's per-OSD reweight: 0x10000 in, 0 out.
    weights: Vec<u32>,
    result_max: usize,
}

impl Drop for Crush {
    fn drop(&mut self) {
        // SAFETY: `map` came from `crush_create` and is destroyed exactly once; it owns its
        // buckets and rules.
        unsafe { sys::crush_destroy(self.map) }
    }
}

impl Crush {
    /// Builds the CRUSH twin of `t`: one straw2 bucket per trimtab bucket (type = height
    /// above the devices: host 1, rack 2, root 3 for `["rack", "host"]`), the same 16.16
    /// device weights, and a rule placing `result_max` replicas in distinct `domain`
    /// buckets (`"device"` for distinct devices only). Devices that are out get reweight 0.
    pub fn from_topology(t: &Topology, domain: &str, result_max: usize, ids: &mut CrushIds) -> Crush {
        let levels = t.levels().len();
        let domain_type = match t.level_depth(domain) {
            Some(d) => (levels + 1 - d) as c_int,
            None => panic!("unknown failure domain {domain}"),
        };
        // SAFETY: plain constructor; null is checked.
        let map = unsafe { sys::crush_create() };
        assert!(!map.is_null());
        let buckets = t.buckets();
        let devices = t.devices();
        // Children before parents: buckets are stored parents first, so walk backwards.
        let mut bucket_ids = vec![0 as c_int; buckets.len()];
        for (i, b) in buckets.iter().enumerate() {
            bucket_ids[i] = ids.id(b.depth, &b.name);
        }
        // CRUSH weights are 32-bit: scale the 16.16 weights down by a power of two until
        // the root fits (4 TB devices weigh 4.0 in trimtab; 10,020 of them overflow).
        let mut shift = 0;
        while buckets[0].weight >> shift > i32::MAX as u64 / 2 {
            shift += 1;
        }
        let dev_w = |w: u32| (w >> shift) as c_int;
        // Bucket weights recomputed bottom-up from the scaled device weights.
        let mut bucket_w = vec![0 as c_int; buckets.len()];
        for (i, b) in buckets.iter().enumerate().rev() {
            let mut items: Vec<c_int> = Vec::with_capacity(b.children.len());
            let mut weights: Vec<c_int> = Vec::with_capacity(b.children.len());
            for c in &b.children {
                match *c {
                    Node::Bucket(bi) => {
                        items.push(bucket_ids[bi as usize]);
                        weights.push(bucket_w[bi as usize]);
                    }
                    Node::Device(di) => {
                        items.push(devices[di as usize].id as c_int);
                        weights.push(dev_w(devices[di as usize].weight.0));
                    }
                }
            }
            bucket_w[i] = weights.iter().sum();
            let btype = (levels + 1 - b.depth) as c_int;
            // SAFETY: `items`/`weights` hold `len` entries and are copied by libcrush.
            unsafe {
                let bucket = sys::crush_make_bucket(
                    map,
                    sys::crush_algorithm_CRUSH_BUCKET_STRAW2 as c_int,
                    sys::CRUSH_HASH_RJENKINS1 as c_int,
                    btype,
                    items.len() as c_int,
                    items.as_mut_ptr(),
                    weights.as_mut_ptr(),
                );
                assert!(!bucket.is_null());
                let mut out = 0;
                let rc = sys::crush_add_bucket(map, bucket_ids[i], bucket, &mut out);
                assert_eq!(rc, 0, "crush_add_bucket");
            }
        }
        // SAFETY: the map is complete; the rule is handed over to the map.
        let rule = unsafe {
            sys::crush_finalize(map);
            let r = sys::crush_make_rule(3, 0, 1, 1, result_max as c_int);
            assert!(!r.is_null());
            sys::crush_rule_set_step(r, 0, sys::crush_opcodes_CRUSH_RULE_TAKE as c_int, bucket_ids[0], 0);
            let op = if domain_type == 0 {
                sys::crush_opcodes_CRUSH_RULE_CHOOSE_FIRSTN
            } else {
                sys::crush_opcodes_CRUSH_RULE_CHOOSELEAF_FIRSTN
            };
            sys::crush_rule_set_step(r, 1, op as c_int, 0, domain_type);
            sys::crush_rule_set_step(r, 2, sys::crush_opcodes_CRUSH_RULE_EMIT as c_int, 0, 0);
            let ruleno = sys::crush_add_rule(map, r, -1);
            assert!(ruleno >= 0);
            ruleno
        };
        // SAFETY: `map` is valid and finalized.
        let working_size = unsafe { (*map).working_size };
        let max_devices = unsafe { (*map).max_devices } as usize;
        let work_bytes = working_size + result_max * 3 * std::mem::size_of::<u32>();
        let mut weights = vec![0u32; max_devices];
        for d in devices {
            if d.accepts_data() {
                weights[d.id as usize] = 0x10000;
            }
        }
        Crush { map, rule, work: vec![0u64; work_bytes.div_ceil(8)], weights, result_max }
    }

    /// Ceph's PG input: `crush_hash32_2(RJENKINS1, ps, pool)`.
    #[inline]
    pub fn pps(pg: u32) -> u32 {
        // SAFETY: pure function.
        unsafe { sys::crush_hash32_2(sys::CRUSH_HASH_RJENKINS1 as c_int, pg, POOL) }
    }

    /// Maps one PG as `CrushWrapper::do_rule` does (workspace initialized per call); writes
    /// the OSDs into `out` and returns how many.
    #[inline]
    pub fn map_pg(&mut self, pg: u32, out: &mut [i32]) -> usize {
        let x = Self::pps(pg) as c_int;
        self.do_rule(x, out, true)
    }

    /// `crush_do_rule` for input `x`; `init` re-initializes the workspace first (as Ceph
    /// does on every call).
    #[inline]
    pub fn do_rule(&mut self, x: c_int, out: &mut [i32], init: bool) -> usize {
        assert!(out.len() >= self.result_max);
        // SAFETY: `work` holds `crush_work_size(map, result_max)` bytes, `out` at least
        // `result_max` ints, `weights` `max_devices` entries.
        unsafe {
            let w = self.work.as_mut_ptr() as *mut c_void;
            if init {
                sys::crush_init_workspace(self.map, w);
            }
            sys::crush_do_rule(
                self.map,
                self.rule,
                x,
                out.as_mut_ptr(),
                self.result_max as c_int,
                self.weights.as_ptr(),
                self.weights.len() as c_int,
                w,
                std::ptr::null(),
            ) as usize
        }
    }

    /// Initializes the workspace once (for [`Crush::do_rule`] with `init == false`).
    pub fn init_workspace(&mut self) {
        // SAFETY: see `do_rule`.
        unsafe { sys::crush_init_workspace(self.map, self.work.as_mut_ptr() as *mut c_void) }
    }

    /// The whole table, `result_max` entries per PG, `-1` for a missing replica.
    pub fn table(&mut self, pgs: u32) -> Vec<i32> {
        let n = self.result_max;
        let mut table = vec![-1i32; pgs as usize * n];
        let mut out = vec![0i32; n];
        for pg in 0..pgs {
            let k = self.map_pg(pg, &mut out);
            table[pg as usize * n..pg as usize * n + k].copy_from_slice(&out[..k]);
        }
        table
    }
}
