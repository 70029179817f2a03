//! A log-bucketed latency histogram (8 buckets per power of two, ≈9 % resolution) that
//! workers send to the parent and the parent merges by adding.

use serde::{Deserialize, Serialize};

const SUB_BUCKETS: u32 = 8;
const BUCKETS: usize = 64 * SUB_BUCKETS as usize;

/// Latencies in nanoseconds.
#[derive(Clone, Serialize, Deserialize)]
pub struct Histogram {
    counts: Vec<u64>,
    max_ns: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            max_ns: 0,
        }
    }
}

impl Histogram {
    pub fn record(&mut self, ns: u64) {
        self.counts[bucket_of(ns)] += 1;
        self.max_ns = self.max_ns.max(ns);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn max_ns(&self) -> u64 {
        self.max_ns
    }

    /// The upper bound of the bucket holding quantile `q` (0..=1); 0 when empty.
    pub fn quantile_ns(&self, q: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (bucket, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return upper_bound(bucket).min(self.max_ns);
            }
        }
        self.max_ns
    }
}

fn bucket_of(ns: u64) -> usize {
    if ns < u64::from(SUB_BUCKETS) {
        return ns as usize;
    }
    let power = 63 - ns.leading_zeros(); // ≥ 3
    let sub = (ns >> (power - 3)) & u64::from(SUB_BUCKETS - 1);
    ((power - 2) * SUB_BUCKETS) as usize + sub as usize
}

fn upper_bound(bucket: usize) -> u64 {
    let bucket = bucket as u64;
    let sub_buckets = u64::from(SUB_BUCKETS);
    if bucket < sub_buckets {
        return bucket;
    }
    let power = bucket / sub_buckets + 2;
    let sub = bucket % sub_buckets;
    ((sub_buckets + sub + 1) << (power - 3)) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_contain_their_values() {
        for ns in [
            0,
            1,
            7,
            8,
            9,
            15,
            16,
            100,
            1_000,
            123_456,
            10_000_000_000,
            u64::MAX >> 1,
        ] {
            let b = bucket_of(ns);
            assert!(upper_bound(b) >= ns, "{ns} above bucket {b}");
            if b > 0 {
                assert!(upper_bound(b - 1) < ns, "{ns} belongs below bucket {b}");
            }
        }
    }

    #[test]
    fn quantiles_are_within_nine_percent() {
        let mut h = Histogram::default();
        for ns in 1..=10_000u64 {
            h.record(ns * 1_000);
        }
        let p50 = h.quantile_ns(0.5) as f64;
        assert!((p50 / 5_000_000.0 - 1.0).abs() < 0.13, "p50 = {p50}");
        assert_eq!(h.quantile_ns(1.0), 10_000_000);
        assert_eq!(h.count(), 10_000);
    }
}
