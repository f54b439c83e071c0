//! Sharing at the edge: a lock around a part for hosts that call it from several threads,
//! and an event sink that carries a part's events to another thread.
//!
//! The parts themselves are single-threaded values (`&mut self`); nothing in their decision
//! logic locks or sends. A host that wants to tick a part on one thread and feed it from
//! others wraps it in [`Shared`]; a host that wants events pushed to, say, an alerting thread
//! drains them into an [`EventSink`] after each change instead of polling there.

#![forbid(unsafe_code)]

use crossbeam_channel::{Receiver, Sender, TrySendError};
use parking_lot::{Mutex, MutexGuard};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A part that produces events, drained with `poll_event` until it returns `None`.
pub trait EventSource {
    /// The part's event type.
    type Event;
    /// The next event, or `None` once drained.
    fn poll_event(&mut self) -> Option<Self::Event>;
}

/// A part behind a lock, cheap to clone and safe to call from any thread.
///
/// ```
/// use trimtab::shared::Shared;
/// let counter = Shared::new(0u64);
/// let c2 = counter.clone();
/// std::thread::spawn(move || *c2.lock() += 1).join().unwrap();
/// assert_eq!(*counter.lock(), 1);
/// ```
#[derive(Debug, Default)]
pub struct Shared<T>(Arc<Mutex<T>>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(Arc::clone(&self.0))
    }
}

impl<T> Shared<T> {
    /// Wraps a part.
    pub fn new(part: T) -> Shared<T> {
        Shared(Arc::new(Mutex::new(part)))
    }
    /// Locks the part for a sequence of calls (hold it across a change and its drain).
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock()
    }
    /// Runs `f` with the part locked.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.0.lock())
    }
}

impl<T: EventSource> Shared<T> {
    /// Drains the part's events into `sink`; returns how many were delivered.
    pub fn drain_to(&self, sink: &EventSink<T::Event>) -> usize {
        sink.drain_from(&mut *self.0.lock())
    }
}

/// The sending side of a bounded event channel. When the receiver falls behind and the
/// channel is full, further events are dropped and counted ([`EventSink::dropped`]), never
/// silently lost and never blocking the thread that drives the part.
#[derive(Debug)]
pub struct EventSink<E> {
    tx: Sender<E>,
    dropped: Arc<AtomicU64>,
}

impl<E> Clone for EventSink<E> {
    fn clone(&self) -> Self {
        EventSink { tx: self.tx.clone(), dropped: Arc::clone(&self.dropped) }
    }
}

impl<E> EventSink<E> {
    /// A sink holding at most `capacity` undelivered events (at least 1), and its receiver.
    pub fn bounded(capacity: usize) -> (EventSink<E>, Receiver<E>) {
        let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
        (EventSink { tx, dropped: Arc::new(AtomicU64::new(0)) }, rx)
    }

    /// Offers one event; returns false (and counts it) when it had to be dropped.
    pub fn send(&self, event: E) -> bool {
        match self.tx.try_send(event) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Drains every event of `source` into the channel; returns how many were delivered.
    pub fn drain_from<S: EventSource<Event = E> + ?Sized>(&self, source: &mut S) -> usize {
        let mut n = 0;
        while let Some(e) = source.poll_event() {
            n += self.send(e) as usize;
        }
        n
    }

    /// Events dropped because the channel was full or its receiver gone.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl EventSource for crate::migration::Scheduler {
    type Event = crate::migration::Event;
    fn poll_event(&mut self) -> Option<Self::Event> {
        crate::migration::Scheduler::poll_event(self)
    }
}

impl EventSource for crate::partition::PartitionDetector {
    type Event = crate::partition::PartitionEvent;
    fn poll_event(&mut self) -> Option<Self::Event> {
        crate::partition::PartitionDetector::poll_event(self)
    }
}

impl EventSource for crate::health::FailureDetector {
    type Event = crate::health::NodeEvent;
    fn poll_event(&mut self) -> Option<Self::Event> {
        crate::health::FailureDetector::poll_event(self)
    }
}

impl EventSource for crate::health::DiskHealth {
    type Event = crate::health::DeviceEvent;
    fn poll_event(&mut self) -> Option<Self::Event> {
        crate::health::DiskHealth::poll_event(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter(Vec<u32>);
    impl EventSource for Counter {
        type Event = u32;
        fn poll_event(&mut self) -> Option<u32> {
            self.0.pop()
        }
    }

    #[test]
    fn sink_delivers_then_counts_overflow() {
        let part = Shared::new(Counter(vec![1, 2, 3, 4, 5]));
        let (sink, rx) = EventSink::bounded(3);
        assert_eq!(part.drain_to(&sink), 3);
        assert_eq!(sink.dropped(), 2);
        assert!(part.lock().0.is_empty(), "the part is drained even when the sink overflows");
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![5, 4, 3]);
        drop(rx);
        assert!(!sink.send(9));
        assert_eq!(sink.dropped(), 3);
    }

    #[test]
    fn a_partition_detector_pushes_its_events_to_another_thread() {
        use crate::partition::{NodeSpec, PartitionConfig, PartitionDetector};
        use crate::Time;
        let mut d = PartitionDetector::new(PartitionConfig::default()).unwrap();
        for n in 1..=3 {
            d.add_node(n, NodeSpec::default()).unwrap();
        }
        let part = Shared::new(d);
        let (sink, rx) = EventSink::bounded(64);
        let consumer = std::thread::spawn(move || rx.recv().is_ok());
        part.with(|d| {
            for t in 1..=60 {
                for n in 1..=3u64 {
                    let peers: Vec<u64> = (1..=3).filter(|&p| p != n).collect();
                    d.report(n, &peers, Time::from_secs(t)).unwrap();
                }
                d.tick(Time::from_secs(t));
            }
        });
        assert!(part.drain_to(&sink) > 0);
        assert!(consumer.join().unwrap());
    }

    #[test]
    fn shared_across_threads() {
        let part = Shared::new(Counter(Vec::new()));
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let p = part.clone();
                std::thread::spawn(move || p.with(|c| c.0.push(i)))
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(part.lock().0.len(), 4);
    }
}
