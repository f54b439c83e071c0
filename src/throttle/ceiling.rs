//! The load-following ceiling: a factor in `[floor, 1]` that multiplies a configured rate.
//!
//! It falls to the floor on the first report in which any raw metric is at or above its
//! threshold (so within one tick of the crossing), holds while any smoothed metric is in the
//! hysteresis band just below its threshold, and climbs back linearly in time, at
//! `recovery_per_sec`, only while every smoothed metric is below `threshold − hysteresis`.
//! Falling on raw values and rising on smoothed ones, with a band in between, is what keeps
//! it from oscillating. The factor is kept in parts per million so that the rates it
//! produces are integers and agree across machines.

#![forbid(unsafe_code)]

use super::ThrottleError;
use crate::time::{Time, NANOS_PER_SEC};

/// Parts per million: the unit of the ceiling factor.
pub const PPM: u32 = 1_000_000;

/// Thresholds and dynamics of the load-following ceiling. Loads are fractions in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoadConfig {
    /// CPU utilisation at which the ceiling drops (default 0.80).
    pub cpu: f64,
    /// Memory utilisation at which the ceiling drops (default 0.85).
    pub memory: f64,
    /// Fraction of time in io-wait at which the ceiling drops (default 0.30).
    pub io_wait: f64,
    /// Client latency in milliseconds at which the ceiling drops; 0 disables it (default 0).
    pub client_latency_ms: f64,
    /// The lowest factor (default 0.1).
    pub floor: f64,
    /// Width of the band below each threshold in which the factor holds, as a fraction of
    /// the threshold (default 0.1, so cpu recovers only below 72%).
    pub hysteresis: f64,
    /// How much the factor rises per second of recovery (default 0.1: floor to full in 9 s).
    pub recovery_per_sec: f64,
    /// Weight of a new report in the smoothed loads, in `(0, 1]` (default 0.3).
    pub smoothing: f64,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            cpu: 0.80,
            memory: 0.85,
            io_wait: 0.30,
            client_latency_ms: 0.0,
            floor: 0.1,
            hysteresis: 0.1,
            recovery_per_sec: 0.1,
            smoothing: 0.3,
        }
    }
}

fn finite_in(x: f64, lo: f64, hi: f64) -> bool {
    x.is_finite() && x >= lo && x <= hi
}

impl LoadConfig {
    /// Checks every field (finite, in range).
    pub fn validate(&self) -> Result<(), ThrottleError> {
        let ok = finite_in(self.cpu, 0.0, 1.0)
            && finite_in(self.memory, 0.0, 1.0)
            && finite_in(self.io_wait, 0.0, 1.0)
            && finite_in(self.client_latency_ms, 0.0, 1e9)
            && finite_in(self.floor, 1e-6, 1.0)
            && finite_in(self.hysteresis, 0.0, 1.0)
            && finite_in(self.recovery_per_sec, 1e-9, 1e9)
            && finite_in(self.smoothing, 1e-9, 1.0);
        if ok {
            Ok(())
        } else {
            Err(ThrottleError::InvalidLoadConfig)
        }
    }
}

/// One load report from the host.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct LoadMetrics {
    /// CPU utilisation in `[0, 1]`.
    pub cpu: f64,
    /// Memory utilisation in `[0, 1]`.
    pub memory: f64,
    /// Fraction of time in io-wait in `[0, 1]`.
    pub io_wait: f64,
    /// Client latency in milliseconds, or a negative value when the host has none.
    pub client_latency_ms: f64,
}

impl LoadMetrics {
    fn validate(&self) -> Result<(), ThrottleError> {
        let lat_ok = self.client_latency_ms.is_finite() && self.client_latency_ms <= 1e9;
        if finite_in(self.cpu, 0.0, 1.0)
            && finite_in(self.memory, 0.0, 1.0)
            && finite_in(self.io_wait, 0.0, 1.0)
            && lat_ok
        {
            Ok(())
        } else {
            Err(ThrottleError::InvalidLoad)
        }
    }
}

/// The state of one ceiling.
#[derive(Debug, Clone, PartialEq)]
pub struct Ceiling {
    factor_ppm: u32,
    smoothed: Option<LoadMetrics>,
    last: u64,
}

impl Default for Ceiling {
    fn default() -> Self {
        Ceiling { factor_ppm: PPM, smoothed: None, last: 0 }
    }
}

/// Where a report puts the load relative to the thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Zone {
    Over,
    Band,
    Under,
}

impl Ceiling {
    /// The factor in parts per million.
    pub fn factor_ppm(&self) -> u32 {
        self.factor_ppm
    }

    /// Applies one report; returns whether the factor changed. Validates before changing
    /// anything.
    pub fn report(&mut self, cfg: &LoadConfig, m: LoadMetrics, now: Time) -> Result<bool, ThrottleError> {
        m.validate()?;
        let now_ns = now.0.max(self.last);
        let dt = now_ns - self.last;
        self.last = now_ns;
        let a = cfg.smoothing;
        let s = match self.smoothed {
            None => m,
            Some(p) => LoadMetrics {
                cpu: p.cpu + a * (m.cpu - p.cpu),
                memory: p.memory + a * (m.memory - p.memory),
                io_wait: p.io_wait + a * (m.io_wait - p.io_wait),
                client_latency_ms: if m.client_latency_ms < 0.0 {
                    p.client_latency_ms
                } else if p.client_latency_ms < 0.0 {
                    m.client_latency_ms
                } else {
                    p.client_latency_ms + a * (m.client_latency_ms - p.client_latency_ms)
                },
            },
        };
        self.smoothed = Some(s);
        let floor = (cfg.floor * PPM as f64).round().clamp(1.0, PPM as f64) as u32;
        let before = self.factor_ppm;
        match (zone(cfg, &m, 0.0), zone(cfg, &s, cfg.hysteresis)) {
            (Zone::Over, _) => self.factor_ppm = floor,
            (_, Zone::Under) => {
                let up = (cfg.recovery_per_sec * PPM as f64 * dt as f64 / NANOS_PER_SEC as f64).min(PPM as f64) as u32;
                self.factor_ppm = self.factor_ppm.saturating_add(up).min(PPM);
            }
            _ => {}
        }
        self.factor_ppm = self.factor_ppm.max(floor);
        Ok(self.factor_ppm != before)
    }
}

/// `Over` when any metric is at or above its threshold; `Band` when any is within
/// `hyst × threshold` below it; `Under` otherwise.
fn zone(cfg: &LoadConfig, m: &LoadMetrics, hyst: f64) -> Zone {
    let mut pairs = [(m.cpu, cfg.cpu), (m.memory, cfg.memory), (m.io_wait, cfg.io_wait), (-1.0, 0.0)];
    if cfg.client_latency_ms > 0.0 && m.client_latency_ms >= 0.0 {
        pairs[3] = (m.client_latency_ms, cfg.client_latency_ms);
    }
    let mut z = Zone::Under;
    for (v, t) in pairs {
        if v < 0.0 {
            continue;
        }
        if v >= t {
            return Zone::Over;
        }
        if hyst > 0.0 && v >= t * (1.0 - hyst) {
            z = Zone::Band;
        }
    }
    z
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(cpu: f64) -> LoadMetrics {
        LoadMetrics { cpu, memory: 0.2, io_wait: 0.0, client_latency_ms: -1.0 }
    }

    #[test]
    fn falls_at_once_and_recovers_gradually_without_oscillating() {
        let cfg = LoadConfig::default();
        let mut c = Ceiling::default();
        c.report(&cfg, load(0.5), Time::from_secs(0)).unwrap();
        assert_eq!(c.factor_ppm(), PPM);
        c.report(&cfg, load(0.85), Time::from_secs(1)).unwrap();
        assert_eq!(c.factor_ppm(), PPM / 10, "one report over the threshold drops to the floor");
        // Load back to 50%: the smoothed value needs a few reports to leave the band.
        let mut prev = c.factor_ppm();
        let mut rises = 0;
        for s in 2..40 {
            c.report(&cfg, load(0.5), Time::from_secs(s)).unwrap();
            assert!(c.factor_ppm() >= prev, "monotone recovery");
            if c.factor_ppm() > prev {
                rises += 1;
            }
            prev = c.factor_ppm();
        }
        assert_eq!(c.factor_ppm(), PPM);
        assert!(rises >= 8, "gradual: {rises} steps");
        // In the band (75%): holds.
        // In the band (75%, between 72% and 80%): once the smoothed load is in it, the
        // factor holds still instead of oscillating.
        c.report(&cfg, load(0.95), Time::from_secs(50)).unwrap();
        assert_eq!(c.factor_ppm(), PPM / 10);
        let mut seen = Vec::new();
        for s in 51..90 {
            c.report(&cfg, load(0.75), Time::from_secs(s)).unwrap();
            seen.push(c.factor_ppm());
        }
        assert!(seen[10..].iter().all(|&f| f == seen[10]), "{seen:?}");
        assert!(seen[10] < PPM / 2);
    }

    #[test]
    fn rejects_bad_metrics_without_change() {
        let cfg = LoadConfig::default();
        let mut c = Ceiling::default();
        c.report(&cfg, load(0.9), Time::from_secs(1)).unwrap();
        let before = c.clone();
        assert!(c.report(&cfg, load(f64::NAN), Time::from_secs(2)).is_err());
        assert!(c.report(&cfg, load(1.5), Time::from_secs(2)).is_err());
        assert_eq!(c, before);
        let bad = LoadConfig { floor: 0.0, ..cfg };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn client_latency_counts_when_configured() {
        let cfg = LoadConfig { client_latency_ms: 20.0, ..LoadConfig::default() };
        let mut c = Ceiling::default();
        let m = LoadMetrics { client_latency_ms: 25.0, ..load(0.1) };
        c.report(&cfg, m, Time::from_secs(1)).unwrap();
        assert_eq!(c.factor_ppm(), PPM / 10);
    }
}
