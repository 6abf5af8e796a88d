//! A counting semaphore that bounds how many files are queued for the
//! worker threads, so memory stays flat however many files a tree holds.

use std::sync::{Condvar, Mutex};

pub struct Throttle {
    slots: Mutex<usize>,
    freed: Condvar,
}

impl Throttle {
    pub fn new(slots: usize) -> Throttle {
        Throttle {
            slots: Mutex::new(slots.max(1)),
            freed: Condvar::new(),
        }
    }

    /// Room for four queued files per worker thread.
    pub fn for_workers() -> Throttle {
        Throttle::new(4 * rayon::current_num_threads())
    }

    pub fn acquire(&self) {
        let mut free = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
    }

    pub fn release(&self) {
        *self.slots.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.freed.notify_one();
    }
}
