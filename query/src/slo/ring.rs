//! A ring of per-minute (good, total) counts covering the last `capacity` minutes: what the
//! engine keeps per SLO as data arrives.

use std::collections::BTreeMap;

use super::series::Series;

/// Per-minute counts for buckets `newest - capacity + 1 ..= newest`.
#[derive(Debug, Clone)]
pub struct BucketRing {
    newest: i64,
    good: Vec<u32>,
    total: Vec<u32>,
}

/// What happened to counts offered to the ring.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AddOutcome {
    /// Events counted.
    pub counted: u64,
    /// Events older than the ring (outside every window): not counted.
    pub too_old: u64,
}

impl BucketRing {
    /// An empty ring of `capacity` minutes ending at bucket `newest`.
    pub fn new(capacity: usize, newest: i64) -> Self {
        let capacity = capacity.max(1);
        Self {
            newest,
            good: vec![0; capacity],
            total: vec![0; capacity],
        }
    }

    fn capacity(&self) -> i64 {
        self.good.len() as i64
    }

    fn slot(&self, bucket: i64) -> usize {
        bucket.rem_euclid(self.capacity()) as usize
    }

    /// The newest bucket.
    pub fn newest(&self) -> i64 {
        self.newest
    }

    /// Moves the newest bucket forward to `bucket`, clearing the minutes that fall out.
    pub fn advance(&mut self, bucket: i64) {
        if bucket <= self.newest {
            return;
        }
        let steps = (bucket - self.newest).min(self.capacity());
        for offset in 1..=steps {
            let slot = self.slot(self.newest + offset);
            self.good[slot] = 0;
            self.total[slot] = 0;
        }
        self.newest = bucket;
    }

    /// Adds counts per bucket (bucket -> (good, total)); buckets newer than `newest` move it.
    pub fn add(&mut self, counts: &BTreeMap<i64, (u64, u64)>) -> AddOutcome {
        let mut outcome = AddOutcome::default();
        if let Some((&last, _)) = counts.last_key_value() {
            self.advance(last);
        }
        for (&bucket, &(good, total)) in counts {
            if bucket <= self.newest - self.capacity() {
                outcome.too_old += total;
                continue;
            }
            let slot = self.slot(bucket);
            self.good[slot] = self.good[slot].saturating_add(clamp_u32(good));
            self.total[slot] = self.total[slot].saturating_add(clamp_u32(total));
            outcome.counted += total;
        }
        outcome
    }

    /// The counts of buckets `newest - capacity + 1 ..= newest` in order, as two vectors.
    pub fn linear(&self) -> (i64, Vec<u64>, Vec<u64>) {
        let first = self.newest - self.capacity() + 1;
        let mut good = Vec::with_capacity(self.good.len());
        let mut total = Vec::with_capacity(self.total.len());
        for bucket in first..=self.newest {
            let slot = self.slot(bucket);
            good.push(u64::from(self.good[slot]));
            total.push(u64::from(self.total[slot]));
        }
        (first, good, total)
    }

    /// The ring as a [`Series`].
    pub fn series(&self) -> Series {
        let (first, good, total) = self.linear();
        Series::new(first, &good, &total)
    }
}

fn clamp_u32(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(entries: &[(i64, u64, u64)]) -> BTreeMap<i64, (u64, u64)> {
        entries.iter().map(|(b, g, t)| (*b, (*g, *t))).collect()
    }

    #[test]
    fn adds_advance_and_forget() {
        let mut ring = BucketRing::new(5, 100);
        let outcome = ring.add(&counts(&[(99, 1, 2), (100, 3, 3)]));
        assert_eq!(
            outcome,
            AddOutcome {
                counted: 5,
                too_old: 0
            }
        );
        assert_eq!(ring.series().sum(96, 100), (4, 5));
        // Moving to 103 keeps 99..=103; 96 is now too old.
        let outcome = ring.add(&counts(&[(96, 1, 1), (103, 0, 4)]));
        assert_eq!(
            outcome,
            AddOutcome {
                counted: 4,
                too_old: 1
            }
        );
        assert_eq!(ring.newest(), 103);
        assert_eq!(ring.series().sum(99, 103), (4, 9));
        // A jump past the whole ring clears it.
        ring.advance(200);
        assert_eq!(ring.series().sum(0, 300), (0, 0));
    }

    #[test]
    fn linear_is_in_bucket_order() {
        let mut ring = BucketRing::new(3, 10);
        ring.add(&counts(&[(8, 1, 1), (9, 0, 2), (10, 3, 3)]));
        let (first, good, total) = ring.linear();
        assert_eq!(first, 8);
        assert_eq!(good, vec![1, 0, 3]);
        assert_eq!(total, vec![1, 2, 3]);
    }
}
