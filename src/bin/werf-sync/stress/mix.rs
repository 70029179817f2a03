//! The operation mix of a stress run and the small random generator that draws from it.

use serde::{Deserialize, Serialize};

/// Relative weights of the operations a worker performs.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Mix {
    /// Exclusive lock on a hot name, with a non-atomic counter increment inside.
    pub exclusive: u32,
    /// Shared lock on a hot name.
    pub shared: u32,
    /// Exclusive lock on one of many cold names.
    pub cold: u32,
    /// Stages storage cache store.
    pub cache_put: u32,
    /// Stages storage cache read.
    pub cache_get: u32,
}

/// One operation drawn from a [`Mix`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Exclusive,
    Shared,
    Cold,
    CachePut,
    CacheGet,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            exclusive: 40,
            shared: 20,
            cold: 20,
            cache_put: 10,
            cache_get: 10,
        }
    }
}

impl Mix {
    fn weights(&self) -> [(Op, u32); 5] {
        [
            (Op::Exclusive, self.exclusive),
            (Op::Shared, self.shared),
            (Op::Cold, self.cold),
            (Op::CachePut, self.cache_put),
            (Op::CacheGet, self.cache_get),
        ]
    }

    /// Draws an operation with probability proportional to its weight.
    pub fn pick(&self, rng: &mut Rng) -> Op {
        let total: u32 = self.weights().iter().map(|(_, w)| w).sum();
        let mut ticket = rng.below(u64::from(total)) as u32;
        for (op, weight) in self.weights() {
            if ticket < weight {
                return op;
            }
            ticket -= weight;
        }
        unreachable!("ticket below the total weight")
    }
}

impl std::str::FromStr for Mix {
    type Err = String;

    /// `exclusive=40,shared=20,cold=20,cache-put=10,cache-get=10`; unnamed kinds weigh 0.
    fn from_str(text: &str) -> Result<Self, String> {
        let mut mix = Mix {
            exclusive: 0,
            shared: 0,
            cold: 0,
            cache_put: 0,
            cache_get: 0,
        };
        for part in text.split(',') {
            let (kind, weight) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not KIND=WEIGHT"))?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("weight {weight:?} of {kind:?} is not a whole number"))?;
            let field = match kind.trim() {
                "exclusive" => &mut mix.exclusive,
                "shared" => &mut mix.shared,
                "cold" => &mut mix.cold,
                "cache-put" => &mut mix.cache_put,
                "cache-get" => &mut mix.cache_get,
                other => {
                    return Err(format!(
                        "unknown kind {other:?} (exclusive, shared, cold, cache-put, cache-get)"
                    ))
                }
            };
            *field = weight;
        }
        if mix.weights().iter().all(|(_, w)| *w == 0) {
            return Err("every weight is 0".into());
        }
        Ok(mix)
    }
}

/// xorshift64*: enough randomness to spread a workload, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-enough in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

impl std::fmt::Display for Mix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exclusive={},shared={},cold={},cache-put={},cache-get={}",
            self.exclusive, self.shared, self.cold, self.cache_put, self.cache_get
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let mix: Mix = "exclusive=1,cache-get=3".parse().unwrap();
        assert_eq!((mix.exclusive, mix.cache_get, mix.shared), (1, 3, 0));
        assert!("exclusive=0"
            .parse::<Mix>()
            .unwrap_err()
            .contains("every weight is 0"));
        assert!("bogus=1"
            .parse::<Mix>()
            .unwrap_err()
            .contains("unknown kind"));
        assert!("exclusive"
            .parse::<Mix>()
            .unwrap_err()
            .contains("KIND=WEIGHT"));
    }

    #[test]
    fn picks_only_weighted_ops() {
        let mix: Mix = "shared=1,cold=1".parse().unwrap();
        let mut rng = Rng::new(7);
        let ops: Vec<Op> = (0..1000).map(|_| mix.pick(&mut rng)).collect();
        assert!(ops.iter().all(|op| matches!(op, Op::Shared | Op::Cold)));
        assert!(ops.contains(&Op::Shared) && ops.contains(&Op::Cold));
    }
}
