//! The cluster map: a tree of failure domains whose leaves are devices.
//!
//! The host names the levels (default `zone`, `rack`, `host`) and lists its devices, each
//! with a location (a name per level), a weight, a capacity, a reported used size and a
//! state. The map decides nothing by itself; [`crate::placement`] reads it. What the map
//! guarantees:
//!
//! * **Canonical.** The tree does not depend on the order in which devices were listed:
//!   children are sorted by name (buckets) or id (devices), so the same devices always give
//!   the same placement.
//! * **Validated, all or nothing.** Every change is checked in full before it is applied; a
//!   rejected change returns a [`TopologyError`] naming the culprit and leaves the map as it
//!   was.
//! * **Epochs.** Every accepted change that can alter placement (devices added or removed,
//!   weights, up/in/draining state) bumps [`Topology::epoch`]. Usage reports
//!   ([`Topology::set_used_bytes`]) do not: they feed the balancer's full ratio, not the map.
//! * **Fixed-point weights.** Weights are stored as 16.16 fixed point ([`Weight`]), so that
//!   placement never depends on float rounding.
//! * **Snapshots.** [`Topology::to_snapshot`] writes a versioned, checksummed JSON document;
//!   [`Topology::from_snapshot`] restores exactly the same map (and so the same placement).

#![forbid(unsafe_code)]

mod error;

pub use error::TopologyError;

use bitflags::bitflags;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A device id, chosen by the host. `u32::MAX` is reserved (it means "no device").
pub type DeviceId = u32;

/// The reserved id meaning "no device" in placement tables (an unfilled shard).
pub const NO_DEVICE: DeviceId = u32::MAX;

/// The most devices a map may hold.
pub const MAX_DEVICES: usize = 1 << 24;

/// The most levels a map may have (CRUSH's default map has 11 types; real maps use 3–5).
pub const MAX_LEVELS: usize = 32;

/// The default level names, top-down.
pub const DEFAULT_LEVELS: [&str; 3] = ["zone", "rack", "host"];

/// The snapshot format version written by this library.
pub const SNAPSHOT_VERSION: u32 = 1;

bitflags! {
    /// A device's state. Up/down and in/out are independent, as in Ceph: a down device
    /// that is still in keeps its data assignment (the host waits for it to come back),
    /// an out device receives nothing.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub struct DeviceState: u8 {
        /// The device answers (the host's failure detector says so).
        const UP = 0b001;
        /// The device is part of the data distribution.
        const IN = 0b010;
        /// The device is being emptied: it keeps serving what it has but gets no new
        /// data, and placement moves its shards away.
        const DRAINING = 0b100;
    }
}

impl Default for DeviceState {
    fn default() -> Self {
        DeviceState::UP | DeviceState::IN
    }
}

/// A weight in 16.16 fixed point: `Weight::ONE` is 1.0 (by convention one terabyte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Weight(pub u32);

impl Weight {
    /// Weight 1.0.
    pub const ONE: Weight = Weight(1 << 16);
    /// Weight 0: the device receives nothing.
    pub const ZERO: Weight = Weight(0);

    /// Converts a float, rounding to the nearest 1/65536. `None` for a negative, NaN,
    /// infinite or too large (≥ 65536) value.
    pub fn from_f64(w: f64) -> Option<Weight> {
        if !w.is_finite() || w < 0.0 {
            return None;
        }
        let fixed = (w * 65536.0).round();
        if fixed > u32::MAX as f64 {
            return None;
        }
        Some(Weight(fixed as u32))
    }

    /// The weight of a device of `capacity_bytes`, one unit per terabyte (10^12 bytes),
    /// saturating at the largest weight.
    pub fn from_capacity(capacity_bytes: u64) -> Weight {
        let fixed = (capacity_bytes as u128 * 65536) / 1_000_000_000_000u128;
        Weight(fixed.min(u32::MAX as u128) as u32)
    }

    /// The weight as a float, for display.
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 65536.0
    }
}

/// A device as the host describes it: the input of [`Topology::from_devices`] and
/// [`Topology::add_devices`].
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSpec {
    /// The host's id for the device.
    pub id: DeviceId,
    /// The name of the failure domain at each level, as `(level, name)` pairs.
    pub location: Vec<(String, String)>,
    /// The weight; `None` derives it from the capacity (one unit per terabyte).
    pub weight: Option<f64>,
    /// Capacity in bytes.
    pub capacity_bytes: u64,
    /// Bytes in use, as last reported.
    pub used_bytes: u64,
    /// Up/in/draining.
    pub state: DeviceState,
}

impl DeviceSpec {
    /// A device that is up and in, with no location yet and its weight from its capacity.
    pub fn new(id: DeviceId, capacity_bytes: u64) -> DeviceSpec {
        DeviceSpec {
            id,
            location: Vec::new(),
            weight: None,
            capacity_bytes,
            used_bytes: 0,
            state: DeviceState::default(),
        }
    }
    /// Sets the location from `(level, name)` pairs.
    pub fn at(mut self, location: &[(&str, &str)]) -> DeviceSpec {
        self.location = location.iter().map(|(l, n)| (l.to_string(), n.to_string())).collect();
        self
    }
    /// Sets an explicit weight.
    pub fn weight(mut self, w: f64) -> DeviceSpec {
        self.weight = Some(w);
        self
    }
    /// Sets the state.
    pub fn state(mut self, state: DeviceState) -> DeviceSpec {
        self.state = state;
        self
    }
}

/// A device in the map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// The host's id.
    pub id: DeviceId,
    /// The name of its failure domain at each level, top-down (same order as the levels).
    pub location: Vec<String>,
    /// Its weight.
    pub weight: Weight,
    /// Capacity in bytes.
    pub capacity_bytes: u64,
    /// Bytes in use, as last reported.
    pub used_bytes: u64,
    /// Up/in/draining.
    pub state: DeviceState,
}

impl Device {
    /// Whether placement may put new shards here: in, not draining, with a weight.
    pub fn accepts_data(&self) -> bool {
        self.state.contains(DeviceState::IN) && !self.state.contains(DeviceState::DRAINING) && self.weight.0 > 0
    }
    /// Whether the device is up.
    pub fn is_up(&self) -> bool {
        self.state.contains(DeviceState::UP)
    }
}

/// A child of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// Another bucket, by index into [`Topology::buckets`].
    Bucket(u32),
    /// A device, by index into [`Topology::devices`].
    Device(u32),
}

/// A failure domain (an inner node of the tree).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// 0 for the root, `i + 1` for the `i`-th level.
    pub depth: usize,
    /// Its name (empty for the root).
    pub name: String,
    /// Its parent, `None` for the root.
    pub parent: Option<u32>,
    /// Its children, sorted by name (buckets) or id (devices).
    pub children: Vec<Node>,
    /// The sum of its devices' weights (16.16 fixed point), whatever their state: as in
    /// CRUSH, marking a device out does not reshuffle its siblings.
    pub weight: u64,
}

/// The cluster map. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    levels: Vec<String>,
    devices: Vec<Device>,
    buckets: Vec<Bucket>,
    device_bucket: Vec<u32>,
    epoch: u64,
}

impl Topology {
    /// Builds a map from a flat list of devices. `levels` are the failure-domain levels,
    /// top-down; every device's location must name each level exactly once.
    pub fn from_devices<S: AsRef<str>>(levels: &[S], devices: Vec<DeviceSpec>) -> Result<Topology, TopologyError> {
        let levels: Vec<String> = levels.iter().map(|s| s.as_ref().to_string()).collect();
        let devices = devices.into_iter().map(|d| device_from_spec(&levels, d)).collect::<Result<Vec<_>, _>>()?;
        Topology::build(levels, devices, 1)
    }

    /// An empty map with the given levels.
    pub fn empty<S: AsRef<str>>(levels: &[S]) -> Result<Topology, TopologyError> {
        Topology::from_devices(levels, Vec::new())
    }

    fn build(levels: Vec<String>, mut devices: Vec<Device>, epoch: u64) -> Result<Topology, TopologyError> {
        validate_levels(&levels)?;
        if devices.len() > MAX_DEVICES {
            return Err(TopologyError::TooManyDevices(devices.len()));
        }
        devices.sort_by_key(|d| d.id);
        for w in devices.windows(2) {
            if w[0].id == w[1].id {
                return Err(TopologyError::DuplicateDevice(w[0].id));
            }
        }
        // Buckets keyed by (depth, name); BTreeMap so that children come out sorted by name.
        let mut parent_of: Vec<BTreeMap<&str, &str>> = vec![BTreeMap::new(); levels.len() + 1];
        for d in &devices {
            if d.id == NO_DEVICE {
                return Err(TopologyError::ReservedDeviceId(d.id));
            }
            for (i, name) in d.location.iter().enumerate() {
                let parent = if i == 0 { "" } else { d.location[i - 1].as_str() };
                match parent_of[i + 1].get(name.as_str()) {
                    Some(&p) if p != parent => {
                        return Err(TopologyError::TwoParents {
                            level: levels[i].clone(),
                            name: name.clone(),
                            parent_level: if i == 0 { "root".into() } else { levels[i - 1].clone() },
                            first: p.to_string(),
                            second: parent.to_string(),
                            device: d.id,
                        })
                    }
                    Some(_) => {}
                    None => {
                        parent_of[i + 1].insert(name.as_str(), parent);
                    }
                }
            }
        }
        // Materialize buckets depth by depth; index 0 is the root.
        let mut buckets = vec![Bucket { depth: 0, name: String::new(), parent: None, children: Vec::new(), weight: 0 }];
        let mut index: Vec<BTreeMap<String, u32>> = vec![BTreeMap::new(); levels.len() + 1];
        index[0].insert(String::new(), 0);
        for depth in 1..=levels.len() {
            for (&name, &parent) in &parent_of[depth] {
                let parent_idx = index[depth - 1][parent];
                let idx = buckets.len() as u32;
                buckets.push(Bucket {
                    depth,
                    name: name.to_string(),
                    parent: Some(parent_idx),
                    children: Vec::new(),
                    weight: 0,
                });
                buckets[parent_idx as usize].children.push(Node::Bucket(idx));
                index[depth].insert(name.to_string(), idx);
            }
        }
        let mut device_bucket = Vec::with_capacity(devices.len());
        for (i, d) in devices.iter().enumerate() {
            let b = match d.location.last() {
                Some(name) => index[levels.len()][name.as_str()],
                None => 0,
            };
            buckets[b as usize].children.push(Node::Device(i as u32));
            device_bucket.push(b);
            let mut cur = Some(b);
            while let Some(c) = cur {
                buckets[c as usize].weight += d.weight.0 as u64;
                cur = buckets[c as usize].parent;
            }
        }
        Ok(Topology { levels, devices, buckets, device_bucket, epoch })
    }

    /// The level names, top-down.
    pub fn levels(&self) -> &[String] {
        &self.levels
    }
    /// The depth of a level name: 1 for the first level, `levels().len()` for the last;
    /// `levels().len() + 1` for `"device"` (the leaves). `None` for an unknown name.
    pub fn level_depth(&self, level: &str) -> Option<usize> {
        if level == "device" || level == "osd" {
            return Some(self.levels.len() + 1);
        }
        self.levels.iter().position(|l| l == level).map(|i| i + 1)
    }
    /// The devices, sorted by id.
    pub fn devices(&self) -> &[Device] {
        &self.devices
    }
    /// The buckets; index 0 is the root.
    pub fn buckets(&self) -> &[Bucket] {
        &self.buckets
    }
    /// The bucket directly above device index `i` (the root when there are no levels).
    pub fn device_parent(&self, device_index: usize) -> Option<u32> {
        self.device_bucket.get(device_index).copied()
    }
    /// The map's epoch, bumped by every change that can alter placement.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }
    /// The index of a device in [`Topology::devices`].
    pub fn device_index(&self, id: DeviceId) -> Option<usize> {
        self.devices.binary_search_by_key(&id, |d| d.id).ok()
    }
    /// A device by id.
    pub fn device(&self, id: DeviceId) -> Option<&Device> {
        self.device_index(id).map(|i| &self.devices[i])
    }
    /// The sum of the weights of the devices that accept data (16.16 fixed point).
    pub fn eligible_weight(&self) -> u64 {
        self.devices.iter().filter(|d| d.accepts_data()).map(|d| d.weight.0 as u64).sum()
    }

    fn device_mut(&mut self, id: DeviceId) -> Result<&mut Device, TopologyError> {
        match self.device_index(id) {
            Some(i) => Ok(&mut self.devices[i]),
            None => Err(TopologyError::UnknownDevice(id)),
        }
    }

    /// Adds devices (all or none). Bumps the epoch.
    pub fn add_devices(&mut self, specs: Vec<DeviceSpec>) -> Result<(), TopologyError> {
        let mut devices = self.devices.clone();
        for s in specs {
            devices.push(device_from_spec(&self.levels, s)?);
        }
        *self = Topology::build(self.levels.clone(), devices, self.epoch + 1)?;
        Ok(())
    }

    /// Removes devices (all or none: an unknown id rejects the whole call). Buckets left
    /// empty disappear. Bumps the epoch.
    pub fn remove_devices(&mut self, ids: &[DeviceId]) -> Result<(), TopologyError> {
        for &id in ids {
            if self.device_index(id).is_none() {
                return Err(TopologyError::UnknownDevice(id));
            }
        }
        let devices = self.devices.iter().filter(|d| !ids.contains(&d.id)).cloned().collect();
        *self = Topology::build(self.levels.clone(), devices, self.epoch + 1)?;
        Ok(())
    }

    /// Sets a device's weight. Bumps the epoch.
    pub fn set_weight(&mut self, id: DeviceId, weight: f64) -> Result<(), TopologyError> {
        let w = Weight::from_f64(weight)
            .ok_or_else(|| TopologyError::InvalidWeight { device: id, value: weight.to_string() })?;
        let i = self.device_index(id).ok_or(TopologyError::UnknownDevice(id))?;
        let old = self.devices[i].weight.0 as u64;
        self.devices[i].weight = w;
        let mut cur = Some(self.device_bucket[i]);
        while let Some(c) = cur {
            let b = &mut self.buckets[c as usize];
            b.weight = b.weight - old + w.0 as u64;
            cur = b.parent;
        }
        self.epoch += 1;
        Ok(())
    }

    /// Replaces a device's state flags. Bumps the epoch when they change.
    pub fn set_state(&mut self, id: DeviceId, state: DeviceState) -> Result<(), TopologyError> {
        let d = self.device_mut(id)?;
        if d.state != state {
            d.state = state;
            self.epoch += 1;
        }
        Ok(())
    }

    /// Sets or clears some state flags of a device, keeping the others.
    pub fn update_state(&mut self, id: DeviceId, flags: DeviceState, on: bool) -> Result<(), TopologyError> {
        let d = self.device(id).ok_or(TopologyError::UnknownDevice(id))?;
        let mut s = d.state;
        s.set(flags, on);
        self.set_state(id, s)
    }

    /// Marks a device out (it receives nothing and its shards move away).
    pub fn mark_out(&mut self, id: DeviceId) -> Result<(), TopologyError> {
        self.update_state(id, DeviceState::IN, false)
    }
    /// Marks a device in.
    pub fn mark_in(&mut self, id: DeviceId) -> Result<(), TopologyError> {
        self.update_state(id, DeviceState::IN, true)
    }
    /// Marks a device down (it keeps its assignment; replicated PGs serve from the others,
    /// erasure-coded PGs see a hole at its position).
    pub fn mark_down(&mut self, id: DeviceId) -> Result<(), TopologyError> {
        self.update_state(id, DeviceState::UP, false)
    }
    /// Marks a device up.
    pub fn mark_up(&mut self, id: DeviceId) -> Result<(), TopologyError> {
        self.update_state(id, DeviceState::UP, true)
    }
    /// Starts or stops draining a device.
    pub fn set_draining(&mut self, id: DeviceId, draining: bool) -> Result<(), TopologyError> {
        self.update_state(id, DeviceState::DRAINING, draining)
    }

    /// Records a device's used bytes. Does not bump the epoch (usage does not change the
    /// map, only the balancer's view of which devices are full).
    pub fn set_used_bytes(&mut self, id: DeviceId, used_bytes: u64) -> Result<(), TopologyError> {
        self.device_mut(id)?.used_bytes = used_bytes;
        Ok(())
    }

    /// Devices under a failure domain (by level and name), sorted by id.
    pub fn devices_in(&self, level: &str, name: &str) -> Vec<DeviceId> {
        let Some(depth) = self.level_depth(level) else { return Vec::new() };
        if depth > self.levels.len() {
            return Vec::new();
        }
        self.devices.iter().filter(|d| d.location[depth - 1] == name).map(|d| d.id).collect()
    }

    /// Serializes the whole map: a versioned, checksummed JSON document.
    pub fn to_snapshot(&self) -> String {
        let body = SnapshotBody { levels: self.levels.clone(), epoch: self.epoch, devices: self.devices.clone() };
        let body_json = serde_json::to_string(&body).unwrap_or_default();
        let snap = Snapshot {
            format: SNAPSHOT_FORMAT.into(),
            version: SNAPSHOT_VERSION,
            checksum: format!("{:016x}", crate::hash::hash_bytes(SNAPSHOT_SEED, body_json.as_bytes())),
            body,
        };
        serde_json::to_string(&snap).unwrap_or_default()
    }

    /// Restores a map written by [`Topology::to_snapshot`]. Rejects an unknown format or
    /// version, truncated or malformed JSON, and any content whose checksum does not match.
    pub fn from_snapshot(text: &str) -> Result<Topology, TopologyError> {
        let snap: Snapshot =
            serde_json::from_str(text).map_err(|e| TopologyError::Snapshot(format!("malformed or truncated: {e}")))?;
        if snap.format != SNAPSHOT_FORMAT {
            return Err(TopologyError::Snapshot(format!("not a trimtab topology snapshot (format `{}`)", snap.format)));
        }
        if snap.version != SNAPSHOT_VERSION {
            return Err(TopologyError::Snapshot(format!(
                "unknown snapshot version {} (this library reads {SNAPSHOT_VERSION})",
                snap.version
            )));
        }
        let body_json = serde_json::to_string(&snap.body).map_err(|e| TopologyError::Snapshot(e.to_string()))?;
        let sum = format!("{:016x}", crate::hash::hash_bytes(SNAPSHOT_SEED, body_json.as_bytes()));
        if sum != snap.checksum {
            return Err(TopologyError::Snapshot("checksum mismatch: the snapshot is corrupted".into()));
        }
        for d in &snap.body.devices {
            if d.location.len() != snap.body.levels.len() {
                return Err(TopologyError::Snapshot(format!("device {}: location does not match the levels", d.id)));
            }
        }
        Topology::build(snap.body.levels, snap.body.devices, snap.body.epoch)
            .map_err(|e| TopologyError::Snapshot(e.to_string()))
    }

    /// Parses the operators' map file (JSON) into a map. See [`MapFile`].
    pub fn from_json_map(text: &str) -> Result<Topology, TopologyError> {
        let file: MapFile =
            serde_json::from_str(text).map_err(|e| TopologyError::Snapshot(format!("map file: {e}")))?;
        file.into_topology()
    }
}

const SNAPSHOT_FORMAT: &str = "trimtab-topology";
const SNAPSHOT_SEED: u64 = 0x7472_696d_7461_6231;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Snapshot {
    format: String,
    version: u32,
    checksum: String,
    body: SnapshotBody,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotBody {
    levels: Vec<String>,
    epoch: u64,
    devices: Vec<Device>,
}

fn validate_levels(levels: &[String]) -> Result<(), TopologyError> {
    if levels.len() > MAX_LEVELS {
        return Err(TopologyError::InvalidLevels(format!("{} levels, at most {MAX_LEVELS}", levels.len())));
    }
    for (i, l) in levels.iter().enumerate() {
        if l.is_empty() {
            return Err(TopologyError::InvalidLevels("a level name is empty".into()));
        }
        if l == "device" || l == "osd" || l == "root" {
            return Err(TopologyError::InvalidLevels(format!("`{l}` is reserved")));
        }
        if levels[..i].contains(l) {
            return Err(TopologyError::InvalidLevels(format!("`{l}` appears twice")));
        }
    }
    Ok(())
}

fn device_from_spec(levels: &[String], s: DeviceSpec) -> Result<Device, TopologyError> {
    let all = || levels.join(", ");
    let mut location = vec![None::<String>; levels.len()];
    for (level, name) in s.location {
        match levels.iter().position(|l| *l == level) {
            Some(i) => {
                if name.is_empty() {
                    return Err(TopologyError::EmptyName { device: s.id, level });
                }
                if location[i].is_some() {
                    return Err(TopologyError::UnknownLevel {
                        device: s.id,
                        level: format!("{level} (twice)"),
                        levels: all(),
                    });
                }
                location[i] = Some(name);
            }
            None => return Err(TopologyError::UnknownLevel { device: s.id, level, levels: all() }),
        }
    }
    let location = location
        .into_iter()
        .enumerate()
        .map(|(i, n)| {
            n.ok_or_else(|| TopologyError::MissingLevel { device: s.id, level: levels[i].clone(), levels: all() })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let weight = match s.weight {
        Some(w) => {
            Weight::from_f64(w).ok_or_else(|| TopologyError::InvalidWeight { device: s.id, value: w.to_string() })?
        }
        None => Weight::from_capacity(s.capacity_bytes),
    };
    if s.id == NO_DEVICE {
        return Err(TopologyError::ReservedDeviceId(s.id));
    }
    Ok(Device {
        id: s.id,
        location,
        weight,
        capacity_bytes: s.capacity_bytes,
        used_bytes: s.used_bytes,
        state: s.state,
    })
}

/// The operators' map file: a flat device list, each with its location.
///
/// ```json
/// {"levels":["zone","rack","host"],
///  "devices":[{"id":0,"location":{"zone":"z1","rack":"r1","host":"h1"},
///              "weight":1.0,"capacity_bytes":4000000000000,"used_bytes":0,"up":true,"in":true}]}
/// ```
///
/// `levels` defaults to `zone, rack, host`; `weight` defaults to the capacity in TB;
/// `used_bytes`, `up`, `in` and `draining` are optional. The same fields work in TOML.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapFile {
    /// Level names, top-down.
    #[serde(default = "default_levels")]
    pub levels: Vec<String>,
    /// The devices.
    pub devices: Vec<MapFileDevice>,
}

/// One device of a [`MapFile`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapFileDevice {
    /// The host's id.
    pub id: DeviceId,
    /// Level name to domain name.
    pub location: BTreeMap<String, String>,
    /// Weight; defaults to the capacity in TB.
    #[serde(default)]
    pub weight: Option<f64>,
    /// Capacity in bytes.
    pub capacity_bytes: u64,
    /// Used bytes.
    #[serde(default)]
    pub used_bytes: u64,
    /// Up (default true).
    #[serde(default = "yes")]
    pub up: bool,
    /// In (default true).
    #[serde(default = "yes", rename = "in")]
    pub in_: bool,
    /// Draining (default false).
    #[serde(default)]
    pub draining: bool,
}

fn default_levels() -> Vec<String> {
    DEFAULT_LEVELS.iter().map(|s| s.to_string()).collect()
}
fn yes() -> bool {
    true
}

impl MapFile {
    /// Validates the file and builds the map.
    pub fn into_topology(self) -> Result<Topology, TopologyError> {
        let specs = self
            .devices
            .into_iter()
            .map(|d| {
                let mut state = DeviceState::empty();
                state.set(DeviceState::UP, d.up);
                state.set(DeviceState::IN, d.in_);
                state.set(DeviceState::DRAINING, d.draining);
                DeviceSpec {
                    id: d.id,
                    location: d.location.into_iter().collect(),
                    weight: d.weight,
                    capacity_bytes: d.capacity_bytes,
                    used_bytes: d.used_bytes,
                    state,
                }
            })
            .collect();
        Topology::from_devices(&self.levels, specs)
    }

    /// The file form of a map (the inverse of [`MapFile::into_topology`]).
    pub fn from_topology(t: &Topology) -> MapFile {
        MapFile {
            levels: t.levels.clone(),
            devices: t
                .devices
                .iter()
                .map(|d| MapFileDevice {
                    id: d.id,
                    location: t.levels.iter().cloned().zip(d.location.iter().cloned()).collect(),
                    weight: Some(d.weight.as_f64()),
                    capacity_bytes: d.capacity_bytes,
                    used_bytes: d.used_bytes,
                    up: d.state.contains(DeviceState::UP),
                    in_: d.state.contains(DeviceState::IN),
                    draining: d.state.contains(DeviceState::DRAINING),
                })
                .collect(),
        }
    }
}

/// Builds a regular test or demo cluster: `shape[i]` children at level `i`, then
/// `devices_per_leaf` devices of `capacity_bytes` under each leaf bucket. Domain names are
/// `<level><path>` (`rack0-3`), device ids are dense from 0.
pub fn regular_cluster(
    levels: &[&str],
    shape: &[usize],
    devices_per_leaf: usize,
    capacity_bytes: u64,
) -> Result<Topology, TopologyError> {
    if levels.len() != shape.len() {
        return Err(TopologyError::InvalidLevels("one count per level is needed".into()));
    }
    let mut specs = Vec::new();
    let mut path = vec![0usize; shape.len()];
    let leaves = shape.iter().try_fold(1usize, |a, &b| a.checked_mul(b)).unwrap_or(usize::MAX);
    let total = leaves.saturating_mul(devices_per_leaf);
    if total > MAX_DEVICES {
        return Err(TopologyError::TooManyDevices(total));
    }
    for leaf in 0..leaves {
        let mut rem = leaf;
        for i in (0..shape.len()).rev() {
            path[i] = rem % shape[i];
            rem /= shape[i];
        }
        let location: Vec<(String, String)> = (0..shape.len())
            .map(|i| {
                let name = path[..=i].iter().map(|p| p.to_string()).collect::<Vec<_>>().join("-");
                (levels[i].to_string(), format!("{}{}", levels[i], name))
            })
            .collect();
        for k in 0..devices_per_leaf {
            let id = (leaf * devices_per_leaf + k) as DeviceId;
            let mut s = DeviceSpec::new(id, capacity_bytes);
            s.location = location.clone();
            specs.push(s);
        }
    }
    Topology::from_devices(levels, specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Topology {
        regular_cluster(&["rack", "host"], &[2, 2], 2, 4_000_000_000_000).unwrap()
    }

    #[test]
    fn builds_canonical_tree_regardless_of_input_order() {
        let t = small();
        let mut specs: Vec<DeviceSpec> = t
            .devices()
            .iter()
            .map(|d| DeviceSpec::new(d.id, d.capacity_bytes).at(&[("rack", &d.location[0]), ("host", &d.location[1])]))
            .collect();
        specs.reverse();
        let u = Topology::from_devices(&["rack", "host"], specs).unwrap();
        assert_eq!(t, u);
        assert_eq!(t.buckets()[0].weight, 8 * 4 * 65536);
        assert_eq!(t.devices()[0].weight, Weight(4 * 65536));
    }

    #[test]
    fn rejects_bad_input_and_keeps_state() {
        let mut t = small();
        let before = t.clone();
        let dup = DeviceSpec::new(3, 1).at(&[("rack", "rack0"), ("host", "host0-0")]);
        assert_eq!(t.add_devices(vec![dup]), Err(TopologyError::DuplicateDevice(3)));
        let skip = DeviceSpec::new(100, 1).at(&[("host", "hx")]);
        assert!(matches!(t.add_devices(vec![skip]), Err(TopologyError::MissingLevel { device: 100, .. })));
        let extra = DeviceSpec::new(100, 1).at(&[("rack", "r"), ("host", "h"), ("row", "x")]);
        assert!(matches!(t.add_devices(vec![extra]), Err(TopologyError::UnknownLevel { device: 100, .. })));
        let moved = DeviceSpec::new(100, 1).at(&[("rack", "rack1"), ("host", "host0-0")]);
        assert!(matches!(t.add_devices(vec![moved]), Err(TopologyError::TwoParents { device: 100, .. })));
        for w in [f64::NAN, -1.0, f64::INFINITY, 1e9] {
            let bad = DeviceSpec::new(100, 1).at(&[("rack", "r9"), ("host", "h9")]).weight(w);
            assert!(matches!(t.add_devices(vec![bad]), Err(TopologyError::InvalidWeight { device: 100, .. })));
            assert!(matches!(t.set_weight(0, w), Err(TopologyError::InvalidWeight { device: 0, .. })));
        }
        assert_eq!(t.mark_out(999), Err(TopologyError::UnknownDevice(999)));
        assert_eq!(t.remove_devices(&[0, 999]), Err(TopologyError::UnknownDevice(999)));
        let reserved = DeviceSpec::new(NO_DEVICE, 1).at(&[("rack", "r9"), ("host", "h9")]);
        assert_eq!(t.add_devices(vec![reserved]), Err(TopologyError::ReservedDeviceId(NO_DEVICE)));
        assert_eq!(t, before);
    }

    #[test]
    fn epochs_and_weights() {
        let mut t = small();
        let e = t.epoch();
        t.set_weight(0, 1.5).unwrap();
        assert_eq!(t.epoch(), e + 1);
        assert_eq!(t.buckets()[0].weight, 7 * 4 * 65536 + 98304);
        t.mark_out(1).unwrap();
        assert_eq!(t.epoch(), e + 2);
        t.mark_out(1).unwrap(); // no change, no bump
        assert_eq!(t.epoch(), e + 2);
        t.set_used_bytes(1, 5).unwrap();
        assert_eq!(t.epoch(), e + 2);
        assert!(!t.device(1).unwrap().accepts_data());
        t.remove_devices(&[0, 1]).unwrap();
        assert_eq!(t.epoch(), e + 3);
        assert_eq!(t.devices().len(), 6);
        // host0-0 is gone with its last devices
        assert!(!t.buckets().iter().any(|b| b.name == "host0-0"));
    }

    #[test]
    fn snapshot_roundtrip_and_corruption() {
        let mut t = small();
        t.mark_out(2).unwrap();
        let s = t.to_snapshot();
        assert_eq!(Topology::from_snapshot(&s).unwrap(), t);
        assert!(Topology::from_snapshot(&s[..s.len() / 2]).is_err());
        let corrupted = s.replacen("\"capacity_bytes\":4000000000000", "\"capacity_bytes\":4000000000001", 1);
        assert_ne!(corrupted, s);
        assert!(
            matches!(Topology::from_snapshot(&corrupted), Err(TopologyError::Snapshot(m)) if m.contains("checksum"))
        );
        let v2 = s.replacen("\"version\":1", "\"version\":2", 1);
        assert!(matches!(Topology::from_snapshot(&v2), Err(TopologyError::Snapshot(m)) if m.contains("version")));
    }

    #[test]
    fn map_file_defaults() {
        let text = r#"{"levels":["zone","rack","host"],"devices":[
            {"id":0,"location":{"zone":"z1","rack":"r1","host":"h1"},"weight":1.0,"capacity_bytes":4000000000000,"used_bytes":0,"up":true,"in":true},
            {"id":1,"location":{"zone":"z1","rack":"r1","host":"h1"},"capacity_bytes":2000000000000}]}"#;
        let t = Topology::from_json_map(text).unwrap();
        assert_eq!(t.device(1).unwrap().weight, Weight(2 * 65536));
        assert_eq!(t.device(1).unwrap().state, DeviceState::UP | DeviceState::IN);
        let back = MapFile::from_topology(&t).into_topology().unwrap();
        assert_eq!(back.devices(), t.devices());
    }
}
