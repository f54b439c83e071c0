//! Loads and targets: how many shards (or bytes) each device holds and should hold.
//!
//! A device's target is its weight's share of everything placed, except where the failure
//! domain rule forbids it: a domain can hold at most one shard of each placement group, so a
//! domain whose weight share asks for more is capped and the rest is shared among the others
//! in proportion to their weights (water-filling). Targets are fixed point with 32
//! fractional bits in integer arithmetic, so every replica of the map computes the same.

use super::select::SelectTree;
use crate::topology::NO_DEVICE;
use std::collections::BTreeSet;

/// Fractional bits of targets and deviations.
pub(crate) const FRAC: u32 = 32;

/// A domain whose weight share cannot be honoured.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CappedDomain {
    /// The domain's name.
    pub name: String,
    /// Its share of the usable weight.
    pub weight_share: f64,
    /// The largest share it can hold (one shard of each placement group).
    pub achievable_share: f64,
}

pub(crate) struct Loads {
    /// Units (shards or bytes) per dense device.
    pub load: Vec<u64>,
    /// Target units per dense device, `<< FRAC`.
    pub target: Vec<i128>,
    /// Usable devices ordered by deviation `(load << FRAC) - target`.
    pub order: BTreeSet<(i128, u32)>,
    /// Domains whose weight share could not be honoured.
    pub capped: Vec<CappedDomain>,
}

impl Loads {
    #[inline]
    pub fn deviation(&self, d: u32) -> i128 {
        ((self.load[d as usize] as i128) << FRAC) - self.target[d as usize]
    }

    /// Adds `units` to device `d`, keeping the order.
    pub fn add(&mut self, d: u32, units: u64, usable: bool) {
        if usable {
            self.order.remove(&(self.deviation(d), d));
        }
        self.load[d as usize] += units;
        if usable {
            self.order.insert((self.deviation(d), d));
        }
    }

    /// Removes `units` from device `d`, keeping the order.
    pub fn sub(&mut self, d: u32, units: u64, usable: bool) {
        if usable {
            self.order.remove(&(self.deviation(d), d));
        }
        self.load[d as usize] = self.load[d as usize].saturating_sub(units);
        if usable {
            self.order.insert((self.deviation(d), d));
        }
    }
}

/// `total * w / wsum` without overflow: the weights are scaled down together until their
/// sum fits in 32 bits (the relative error is below 2^-31 of the total).
#[inline]
pub(crate) fn share(total: i128, mut w: u128, mut wsum: u128) -> i128 {
    while wsum >= 1 << 32 {
        w >>= 1;
        wsum >>= 1;
    }
    if wsum == 0 {
        return 0;
    }
    total * w as i128 / wsum as i128
}

/// Computes loads from `table` and targets for `total` units, where `cap` is the most one
/// domain can hold (the units of one shard of every placement group).
pub(crate) fn compute(
    tree: &SelectTree,
    table: &[u32],
    shard_units: &dyn Fn(usize) -> u64,
    total: u64,
    cap: u64,
) -> Loads {
    let nd = tree.dev_ids.len();
    let mut load = vec![0u64; nd];
    for (slot, &id) in table.iter().enumerate() {
        if id == NO_DEVICE {
            continue;
        }
        if let Some(d) = tree.dense(id) {
            load[d as usize] += shard_units(slot);
        }
    }
    // Domain weights over usable devices.
    let nds = tree.domain_count();
    let mut dom_w = vec![0u128; nds];
    for d in 0..nd {
        if tree.dev_usable[d] {
            let dom = tree.dev_domain[d];
            if (dom as usize) < nds {
                dom_w[dom as usize] += tree.dev_weight[d] as u128;
            }
        }
    }
    // Water-filling at the domain level.
    let total_w: u128 = dom_w.iter().sum();
    let mut dom_target = vec![0i128; nds];
    let mut capped = vec![false; nds];
    let mut rem_total = (total as i128) << FRAC;
    let mut rem_w = total_w as i128;
    let cap_fp = (cap as i128) << FRAC;
    loop {
        let mut changed = false;
        for i in 0..nds {
            if capped[i] || dom_w[i] == 0 || rem_w == 0 {
                continue;
            }
            let share = share(rem_total, dom_w[i], rem_w as u128);
            if share > cap_fp {
                capped[i] = true;
                dom_target[i] = cap_fp;
                rem_total -= cap_fp;
                rem_w -= dom_w[i] as i128;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    for i in 0..nds {
        if !capped[i] && rem_w > 0 {
            dom_target[i] = share(rem_total, dom_w[i], rem_w as u128);
        }
    }
    let mut target = vec![0i128; nd];
    for d in 0..nd {
        if tree.dev_usable[d] {
            let dom = tree.dev_domain[d] as usize;
            if dom < nds && dom_w[dom] > 0 {
                target[d] = share(dom_target[dom], tree.dev_weight[d] as u128, dom_w[dom]);
            }
        }
    }
    let capped_list = (0..nds)
        .filter(|&i| capped[i])
        .map(|i| CappedDomain {
            name: tree.domain_names[i].clone(),
            weight_share: dom_w[i] as f64 / total_w.max(1) as f64,
            achievable_share: if total == 0 { 0.0 } else { cap as f64 / total as f64 },
        })
        .collect();
    let mut loads = Loads { load, target, order: BTreeSet::new(), capped: capped_list };
    for d in 0..nd {
        if tree.dev_usable[d] {
            loads.order.insert((loads.deviation(d as u32), d as u32));
        }
    }
    loads
}
