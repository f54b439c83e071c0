//! Disk health: decides, from the error reports and SMART-style counters the host reads
//! from each device, whether the device is healthy, degraded, failed or silent. Reading
//! the device, and marking a failed one out and rebuilding its data, are the host's.
//!
//! # The rule
//!
//! Each device keeps a *score*: every I/O error, checksum error and slow operation adds its
//! weight, and the score halves every `half_life` (integer decay driven by `now`: whole
//! half-lives are shifts, the remainder is the chord of `2^-x`, so every replica computes
//! the same score). SMART-style counters are absolute values: reallocated and pending
//! sectors are compared with their own thresholds and do not decay.
//!
//! * **Failed** when the score reaches `failed_score` or a counter reaches its failure
//!   threshold. Failed is sticky until [`DiskHealth::reset_device`] (the host replaced or
//!   reformatted the device); the transition to it is the host's cue to mark the device
//!   out and rebuild.
//! * **Degraded** when the score reaches `degraded_score` or a counter its degraded
//!   threshold; it heals when the score has decayed below the threshold.
//! * **Stale** when no report has come for `stale_after`: a device that stops reporting is
//!   not called healthy. The next report re-evaluates it.
//!
//! Every transition is a [`DeviceEvent`] with the old and new state.

#![forbid(unsafe_code)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use super::HealthError;
use crate::idindex::IdIndex;
use crate::time::{Time, NANOS_PER_SEC};

/// Configuration of a [`DiskHealth`] tracker. Durations are nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskConfig {
    /// Most devices tracked at once.
    pub capacity: usize,
    /// The score halves every this long.
    pub half_life_ns: u64,
    /// Score added per I/O error.
    pub io_error_weight: u32,
    /// Score added per checksum error.
    pub checksum_error_weight: u32,
    /// Score added per slow operation.
    pub slow_op_weight: u32,
    /// Score at which a device is degraded.
    pub degraded_score: u64,
    /// Score at which a device fails.
    pub failed_score: u64,
    /// Reallocated sectors at which a device is degraded.
    pub reallocated_degraded: u64,
    /// Reallocated sectors at which a device fails.
    pub reallocated_failed: u64,
    /// Pending (unreadable, not yet reallocated) sectors at which a device is degraded.
    pub pending_degraded: u64,
    /// Pending sectors at which a device fails.
    pub pending_failed: u64,
    /// A device with no report for this long is stale.
    pub stale_after_ns: u64,
    /// Events kept until polled; further events are dropped and counted.
    pub event_capacity: usize,
}

impl Default for DiskConfig {
    fn default() -> Self {
        DiskConfig {
            capacity: 65_536,
            half_life_ns: 3600 * NANOS_PER_SEC,
            io_error_weight: 100,
            checksum_error_weight: 50,
            slow_op_weight: 2,
            degraded_score: 300,
            failed_score: 2_000,
            reallocated_degraded: 8,
            reallocated_failed: 200,
            pending_degraded: 1,
            pending_failed: 50,
            stale_after_ns: 600 * NANOS_PER_SEC,
            event_capacity: 4096,
        }
    }
}

impl DiskConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), HealthError> {
        let bad = |m: &str| Err(HealthError::InvalidConfig(m.to_string()));
        if self.capacity == 0 || self.capacity > u32::MAX as usize / 2 {
            return bad("capacity must be in 1..=2^31-1");
        }
        if self.half_life_ns == 0 {
            return bad("half_life_ns must be positive");
        }
        if self.degraded_score == 0 || self.failed_score < self.degraded_score {
            return bad("need 0 < degraded_score <= failed_score");
        }
        if self.reallocated_degraded == 0 || self.reallocated_failed < self.reallocated_degraded {
            return bad("need 0 < reallocated_degraded <= reallocated_failed");
        }
        if self.pending_degraded == 0 || self.pending_failed < self.pending_degraded {
            return bad("need 0 < pending_degraded <= pending_failed");
        }
        if self.stale_after_ns == 0 {
            return bad("stale_after_ns must be positive");
        }
        if self.event_capacity == 0 || self.event_capacity > 1 << 24 {
            return bad("event_capacity must be in 1..=2^24");
        }
        Ok(())
    }
}

/// What the host read from one device since its previous report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DiskReport {
    /// I/O errors since the previous report.
    pub io_errors: u32,
    /// Checksum (silent corruption) errors since the previous report.
    pub checksum_errors: u32,
    /// Operations slower than the host's own latency bound since the previous report.
    pub slow_ops: u32,
    /// The SMART reallocated-sector count (absolute), if the device reports it.
    pub reallocated_sectors: Option<u64>,
    /// The SMART current-pending-sector count (absolute), if the device reports it.
    pub pending_sectors: Option<u64>,
}

/// Where a device stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceState {
    /// Errors below every threshold.
    Healthy,
    /// Errors above the degraded thresholds: keep serving, stop placing new data first.
    Degraded,
    /// Beyond the failure thresholds: mark out and rebuild. Sticky until reset.
    Failed,
    /// No report for `stale_after`: unknown, not healthy.
    Stale,
}

/// A state transition of one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceEvent {
    /// The device's id.
    pub device: u64,
    /// The state before.
    pub from: DeviceState,
    /// The state after; [`DeviceState::Failed`] means "mark out and rebuild".
    pub to: DeviceState,
    /// The `now` of the call that made the decision.
    pub at: Time,
}

#[derive(Debug, Clone)]
struct Device {
    id: u64,
    score: u64,
    score_at: u64,
    reallocated: u64,
    pending: u64,
    last_report: u64,
    state: DeviceState,
    scheduled: u64,
}

#[derive(Debug, Clone)]
struct Slot {
    gen: u32,
    dev: Option<Device>,
}

/// Healthy / degraded / failed / stale per device (see the module docs for the rule).
///
/// ```
/// use trimtab::health::{DeviceState, DiskConfig, DiskHealth, DiskReport};
/// use trimtab::Time;
/// let mut h = DiskHealth::new(DiskConfig::default()).unwrap();
/// h.add_device(3, Time::ZERO).unwrap();
/// h.report(3, &DiskReport { io_errors: 25, ..Default::default() }, Time::from_secs(1)).unwrap();
/// assert_eq!(h.device_state(3).unwrap(), DeviceState::Failed);
/// assert_eq!(h.poll_event().unwrap().to, DeviceState::Failed);
/// ```
#[derive(Debug, Clone)]
pub struct DiskHealth {
    cfg: DiskConfig,
    index: IdIndex,
    slots: Vec<Slot>,
    free: Vec<u32>,
    heap: BinaryHeap<Reverse<(u64, u32, u32)>>,
    events: VecDeque<DeviceEvent>,
    now: u64,
    dropped: u64,
}

/// `score * 2^(-dt/half_life)` in integers: shifts for whole half-lives, the chord
/// `1 - x/2` for the fraction.
fn decay(score: u64, dt: u64, half_life: u64) -> u64 {
    let k = dt / half_life;
    if k >= 64 {
        return 0;
    }
    let s = score >> k;
    let frac = dt % half_life;
    let cut = (u128::from(s) * u128::from(frac) / (2 * u128::from(half_life))) as u64;
    s - cut
}

impl DiskHealth {
    /// A tracker with no devices. Fails with [`HealthError::InvalidConfig`].
    pub fn new(cfg: DiskConfig) -> Result<Self, HealthError> {
        cfg.validate()?;
        Ok(DiskHealth {
            index: IdIndex::with_capacity(cfg.capacity.min(1024)),
            slots: Vec::new(),
            free: Vec::new(),
            heap: BinaryHeap::new(),
            events: VecDeque::with_capacity(cfg.event_capacity.min(1024)),
            now: 0,
            dropped: 0,
            cfg,
        })
    }

    /// Starts tracking `device`, healthy, as if it had reported at `now`.
    pub fn add_device(&mut self, device: u64, now: Time) -> Result<(), HealthError> {
        if self.index.contains(device) {
            return Err(HealthError::DuplicateDevice(device));
        }
        if self.index.len() >= self.cfg.capacity {
            return Err(HealthError::CapacityExceeded(self.cfg.capacity));
        }
        let now = self.advance(now);
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(Slot { gen: 0, dev: None });
                (self.slots.len() - 1) as u32
            }
        };
        if let Some(s) = self.slots.get_mut(slot as usize) {
            s.dev = Some(Device {
                id: device,
                score: 0,
                score_at: now,
                reallocated: 0,
                pending: 0,
                last_report: now,
                state: DeviceState::Healthy,
                scheduled: u64::MAX,
            });
        }
        self.index.insert(device, slot);
        self.reschedule(slot);
        Ok(())
    }

    /// Stops tracking `device`.
    pub fn remove_device(&mut self, device: u64) -> Result<(), HealthError> {
        let slot = self.index.remove(device).ok_or(HealthError::UnknownDevice(device))?;
        if let Some(s) = self.slots.get_mut(slot as usize) {
            s.dev = None;
            s.gen = s.gen.wrapping_add(1);
        }
        self.free.push(slot);
        Ok(())
    }

    /// Clears a device's score and counters (the host replaced or reformatted it); it is
    /// healthy again, with an event if that is a change.
    pub fn reset_device(&mut self, device: u64, now: Time) -> Result<(), HealthError> {
        let slot = self.index.get(device).ok_or(HealthError::UnknownDevice(device))?;
        let now = self.advance(now);
        if let Some(d) = self.slots.get_mut(slot as usize).and_then(|s| s.dev.as_mut()) {
            d.score = 0;
            d.score_at = now;
            d.reallocated = 0;
            d.pending = 0;
            d.last_report = now;
            let from = d.state;
            d.state = DeviceState::Healthy;
            let id = d.id;
            if from != DeviceState::Healthy {
                self.emit(DeviceEvent { device: id, from, to: DeviceState::Healthy, at: Time(now) });
            }
        }
        self.reschedule(slot);
        Ok(())
    }

    /// Records a report. Fails with [`HealthError::UnknownDevice`] and changes nothing.
    pub fn report(&mut self, device: u64, r: &DiskReport, now: Time) -> Result<(), HealthError> {
        let slot = self.index.get(device).ok_or(HealthError::UnknownDevice(device))?;
        let now = self.advance(now);
        let cfg = &self.cfg;
        let add = u64::from(r.io_errors)
            .saturating_mul(u64::from(cfg.io_error_weight))
            .saturating_add(u64::from(r.checksum_errors).saturating_mul(u64::from(cfg.checksum_error_weight)))
            .saturating_add(u64::from(r.slow_ops).saturating_mul(u64::from(cfg.slow_op_weight)));
        let half_life = cfg.half_life_ns;
        if let Some(d) = self.slots.get_mut(slot as usize).and_then(|s| s.dev.as_mut()) {
            d.score = decay(d.score, now - d.score_at, half_life).saturating_add(add);
            d.score_at = now;
            if let Some(v) = r.reallocated_sectors {
                d.reallocated = v;
            }
            if let Some(v) = r.pending_sectors {
                d.pending = v;
            }
            d.last_report = now;
        }
        self.evaluate(slot, now);
        Ok(())
    }

    /// Advances time: marks silent devices stale and heals decayed ones. Costs what the
    /// due devices cost.
    pub fn tick(&mut self, now: Time) {
        let now = self.advance(now);
        while let Some(&Reverse((due, slot, gen))) = self.heap.peek() {
            if due > now {
                break;
            }
            self.heap.pop();
            let valid = self
                .slots
                .get(slot as usize)
                .is_some_and(|s| s.gen == gen && s.dev.as_ref().is_some_and(|d| d.scheduled == due));
            if !valid {
                continue;
            }
            if let Some(d) = self.slots.get_mut(slot as usize).and_then(|s| s.dev.as_mut()) {
                d.scheduled = u64::MAX;
            }
            self.evaluate(slot, now);
        }
    }

    /// The state of `device`. Changed by `report`, `tick` and `reset_device`.
    pub fn device_state(&self, device: u64) -> Result<DeviceState, HealthError> {
        let slot = self.index.get(device).ok_or(HealthError::UnknownDevice(device))?;
        self.slots
            .get(slot as usize)
            .and_then(|s| s.dev.as_ref())
            .map(|d| d.state)
            .ok_or(HealthError::UnknownDevice(device))
    }

    /// The device's current decayed error score (for display).
    pub fn score(&self, device: u64) -> Result<u64, HealthError> {
        let slot = self.index.get(device).ok_or(HealthError::UnknownDevice(device))?;
        self.slots
            .get(slot as usize)
            .and_then(|s| s.dev.as_ref())
            .map(|d| decay(d.score, self.now.saturating_sub(d.score_at), self.cfg.half_life_ns))
            .ok_or(HealthError::UnknownDevice(device))
    }

    /// When the next `tick` may change something (a device going stale or healing);
    /// `None` when nothing is pending. Changed by every call that takes `now`.
    pub fn next_deadline(&self) -> Option<Time> {
        self.heap.peek().map(|Reverse((d, _, _))| Time(*d))
    }

    /// The next event, oldest first; `None` once drained. Filled by `report`, `tick` and
    /// `reset_device`.
    pub fn poll_event(&mut self) -> Option<DeviceEvent> {
        self.events.pop_front()
    }

    /// Events dropped because the queue was full.
    pub fn events_dropped(&self) -> u64 {
        self.dropped
    }

    /// Devices tracked.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no device is tracked.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn advance(&mut self, now: Time) -> u64 {
        self.now = self.now.max(now.as_nanos());
        self.now
    }

    fn evaluate(&mut self, slot: u32, now: u64) {
        let cfg = &self.cfg;
        let Some(d) = self.slots.get_mut(slot as usize).and_then(|s| s.dev.as_mut()) else {
            return;
        };
        let score = decay(d.score, now - d.score_at, cfg.half_life_ns);
        let from = d.state;
        let to = if from == DeviceState::Failed
            || score >= cfg.failed_score
            || d.reallocated >= cfg.reallocated_failed
            || d.pending >= cfg.pending_failed
        {
            DeviceState::Failed
        } else if now.saturating_sub(d.last_report) >= cfg.stale_after_ns {
            DeviceState::Stale
        } else if score >= cfg.degraded_score
            || d.reallocated >= cfg.reallocated_degraded
            || d.pending >= cfg.pending_degraded
        {
            DeviceState::Degraded
        } else {
            DeviceState::Healthy
        };
        d.state = to;
        let id = d.id;
        if from != to {
            self.emit(DeviceEvent { device: id, from, to, at: Time(now) });
        }
        self.reschedule(slot);
    }

    fn reschedule(&mut self, slot: u32) {
        let cfg = &self.cfg;
        let Some(s) = self.slots.get_mut(slot as usize) else {
            return;
        };
        let Some(d) = s.dev.as_mut() else { return };
        let due = match d.state {
            DeviceState::Failed | DeviceState::Stale => u64::MAX,
            DeviceState::Healthy => d.last_report.saturating_add(cfg.stale_after_ns),
            // Re-check a quarter half-life later whether the score has decayed enough.
            DeviceState::Degraded => d
                .last_report
                .saturating_add(cfg.stale_after_ns)
                .min(self.now.saturating_add((cfg.half_life_ns / 4).max(1))),
        };
        if due == u64::MAX || (d.scheduled != u64::MAX && d.scheduled <= due) {
            return;
        }
        s.gen = s.gen.wrapping_add(1);
        d.scheduled = due;
        self.heap.push(Reverse((due, slot, s.gen)));
    }

    fn emit(&mut self, e: DeviceEvent) {
        if self.events.len() >= self.cfg.event_capacity {
            self.dropped += 1;
        } else {
            self.events.push_back(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3600 * NANOS_PER_SEC;

    #[test]
    fn decay_halves() {
        assert_eq!(decay(1000, H, H), 500);
        assert_eq!(decay(1000, 2 * H, H), 250);
        assert_eq!(decay(1000, H / 2, H), 750);
        assert_eq!(decay(1000, 100 * H, H), 0);
        assert_eq!(decay(u64::MAX, 0, H), u64::MAX);
    }

    #[test]
    fn degraded_heals_failed_sticks_stale_is_not_healthy() {
        let mut h = DiskHealth::new(DiskConfig::default()).unwrap();
        h.add_device(1, Time::ZERO).unwrap();
        h.report(1, &DiskReport { io_errors: 4, ..Default::default() }, Time::from_secs(1)).unwrap();
        assert_eq!(h.device_state(1).unwrap(), DeviceState::Degraded);
        // Keep reporting clean; two half-lives later the score is below 300.
        for m in 1..=150u64 {
            let t = Time::from_secs(60 * m);
            h.report(1, &DiskReport::default(), t).unwrap();
            h.tick(t);
        }
        assert_eq!(h.device_state(1).unwrap(), DeviceState::Healthy);
        // Silence: stale, with an event.
        while let Some(_e) = h.poll_event() {}
        let t = h.next_deadline().unwrap();
        h.tick(t);
        assert_eq!(h.device_state(1).unwrap(), DeviceState::Stale);
        assert_eq!(h.poll_event().unwrap().to, DeviceState::Stale);
        // Pending sectors explode: failed, sticky.
        h.report(1, &DiskReport { pending_sectors: Some(60), ..Default::default() }, Time(t.0 + 1)).unwrap();
        assert_eq!(h.device_state(1).unwrap(), DeviceState::Failed);
        h.report(1, &DiskReport { pending_sectors: Some(0), ..Default::default() }, Time(t.0 + 2)).unwrap();
        assert_eq!(h.device_state(1).unwrap(), DeviceState::Failed);
        h.reset_device(1, Time(t.0 + 3)).unwrap();
        assert_eq!(h.device_state(1).unwrap(), DeviceState::Healthy);
        assert_eq!(h.report(2, &DiskReport::default(), Time::ZERO), Err(HealthError::UnknownDevice(2)));
    }
}
