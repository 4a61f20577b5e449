//! Values removed from the keyspace that are too large to free on the
//! engine thread without a pause (Redis's lazy free).
//!
//! Freeing a waiting room, sorted set or seat map of 2·10⁶ members takes
//! 6–63 ms (`cargo bench --bench growth`): one free per member record and
//! a walk of every index. On the engine thread that time is a pause for
//! every client. So `DEL`/`UNLINK`, expiry, an overwrite and `FLUSHALL`
//! *bury* a large value here instead of dropping it; the engine takes the
//! buried values after each batch and hands them to a thread that only
//! drops them. Small values are dropped where they are: handing one over
//! costs more than freeing it.
//!
//! Burying changes nothing a client can see: the value is already out of
//! the keyspace, and `apply` stays pure (no thread, no I/O here). While
//! lazy freeing is off (the default: tests, recovery's replay), every value
//! is dropped at once.

/// Values with more items than this (members, holders, keys) are buried;
/// Redis's threshold for lazy freeing is the same count of allocations.
pub const LAZY_FREE_ITEMS_MIN: usize = 64;

/// Something a freeing thread can drop.
pub type Doomed = Box<dyn Send>;

#[derive(Default)]
pub struct Graveyard {
    lazy: bool,
    doomed: Vec<Doomed>,
    /// Values buried since start (INFO `lazyfreed_objects`).
    pub buried_total: u64,
}

impl std::fmt::Debug for Graveyard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graveyard")
            .field("lazy", &self.lazy)
            .field("doomed", &self.doomed.len())
            .field("buried_total", &self.buried_total)
            .finish()
    }
}

impl Graveyard {
    /// Turns lazy freeing on (the engine, which has a freeing thread) or
    /// off.
    pub fn set_lazy(&mut self, lazy: bool) {
        self.lazy = lazy;
    }

    /// Keeps `thing`, which holds `items` separately freed parts, for the
    /// freeing thread if it is large and lazy freeing is on; drops it here
    /// otherwise.
    pub fn bury<T: Send + 'static>(&mut self, thing: T, items: usize) {
        if self.lazy && items > LAZY_FREE_ITEMS_MIN {
            self.doomed.push(Box::new(thing));
            self.buried_total += 1;
        }
    }

    /// How many buried values wait to be taken.
    pub fn len(&self) -> usize {
        self.doomed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.doomed.is_empty()
    }

    /// The buried values, for the freeing thread.
    pub fn take(&mut self) -> Vec<Doomed> {
        std::mem::take(&mut self.doomed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Counts its drops, to tell where a value was freed.
    struct Tracked(Arc<AtomicUsize>);

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn only_large_values_are_buried_and_only_when_lazy() {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut graveyard = Graveyard::default();
        graveyard.bury(Tracked(drops.clone()), 1_000_000);
        assert_eq!(drops.load(Ordering::SeqCst), 1, "not lazy: dropped at once");
        assert!(graveyard.is_empty());

        graveyard.set_lazy(true);
        graveyard.bury(Tracked(drops.clone()), LAZY_FREE_ITEMS_MIN);
        assert_eq!(drops.load(Ordering::SeqCst), 2, "small: dropped at once");
        graveyard.bury(Tracked(drops.clone()), LAZY_FREE_ITEMS_MIN + 1);
        assert_eq!(drops.load(Ordering::SeqCst), 2, "large: kept");
        assert_eq!((graveyard.len(), graveyard.buried_total), (1, 1));

        let doomed = graveyard.take();
        assert!(graveyard.is_empty());
        assert_eq!(drops.load(Ordering::SeqCst), 2);
        std::thread::spawn(move || drop(doomed))
            .join()
            .expect("freeing thread");
        assert_eq!(drops.load(Ordering::SeqCst), 3, "dropped by the taker");
    }
}
