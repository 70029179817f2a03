//! Lock name → lock file name (spec §2): the lower-case, unpadded hex of
//! MurmurHash3_x86_32(name bytes, seed 0) — Go's `fmt.Sprintf("%x", uint32)`, which is what
//! lockgate's "legacy hash" (switched on by werf) produces. lockgate's default for its other
//! users, the lower-case hex of SHA-256 of the name, is [`LockFileNaming::Sha256`].

use sha2::{Digest, Sha256};

/// How lock names become file names in a locks directory: lockgate's two schemes
/// (`file_lock.LegacyHashFunction` in lockgate's `pkg/file_lock`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LockFileNaming {
    /// `%x` of MurmurHash3_x86_32 (seed 0): lockgate with `LegacyHashFunction = true`, which
    /// werf sets. The scheme of every werf home.
    #[default]
    Murmur3,
    /// `%x` of SHA-256 (64 hex digits): lockgate's default (`LegacyHashFunction = false`),
    /// for programs other than werf that share a locks directory with lockgate. The
    /// collector ([`Locker::gc`](super::Locker::gc)) leaves such files alone.
    Sha256,
}

/// MurmurHash3_x86_32 of `data` with `seed`, as in Austin Appleby's reference `MurmurHash3.cpp`.
pub fn murmur3_x86_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;

    let mix_k = |k: u32| k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);

    let mut h = seed;
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        h ^= mix_k(k);
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }

    let tail = blocks.remainder();
    if !tail.is_empty() {
        let k = tail
            .iter()
            .rev()
            .fold(0u32, |k, &byte| (k << 8) | u32::from(byte));
        h ^= mix_k(k);
    }

    // The length is mixed in as a 32-bit value, as the reference implementation does.
    h ^= data.len() as u32;
    fmix32(h)
}

fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// The file name werf uses for the lock `name` inside the locks directory.
pub fn lock_file_name(name: &str) -> String {
    LockFileName::of(name).as_str().to_owned()
}

/// The file name of the lock `name` in a locks directory that uses `naming`.
pub fn lock_file_name_with(naming: LockFileNaming, name: &str) -> String {
    LockFileName::with(naming, name).as_str().to_owned()
}

/// Hex digits of the longest file name: SHA-256.
const MAX_DIGITS: usize = 64;

/// A lock file name held inline: [`lock_file_name`] without the allocation, for the acquire
/// path, where formatting a `String` per acquire was measurable (benches/locks.rs).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct LockFileName {
    /// Lower-case hex digits, most significant first, in `digits[..len]`.
    digits: [u8; MAX_DIGITS],
    len: u8,
}

impl LockFileName {
    pub(crate) fn of(name: &str) -> Self {
        Self::from_hash(murmur3_x86_32(name.as_bytes(), 0))
    }

    pub(crate) fn with(naming: LockFileNaming, name: &str) -> Self {
        match naming {
            LockFileNaming::Murmur3 => Self::of(name),
            LockFileNaming::Sha256 => Self::from_digest(&Sha256::digest(name.as_bytes())),
        }
    }

    /// `%x` of a byte string: two digits per byte, zero-padded as Go's `%x` of a `[32]byte`.
    fn from_digest(bytes: &[u8]) -> Self {
        let mut digits = [0u8; MAX_DIGITS];
        for (pair, byte) in digits.chunks_exact_mut(2).zip(bytes) {
            pair[0] = b"0123456789abcdef"[usize::from(byte >> 4)];
            pair[1] = b"0123456789abcdef"[usize::from(byte & 0xf)];
        }
        LockFileName {
            digits,
            len: (2 * bytes.len().min(MAX_DIGITS / 2)) as u8,
        }
    }

    /// `{:x}` of `hash`: unpadded, so `0` is the single digit `0`.
    fn from_hash(hash: u32) -> Self {
        let significant = (8 - hash.leading_zeros() / 4).max(1) as usize;
        let mut digits = [0u8; MAX_DIGITS];
        for (i, digit) in digits[..significant].iter_mut().enumerate() {
            let nibble = (hash >> (4 * (significant - 1 - i))) & 0xf;
            *digit = b"0123456789abcdef"[nibble as usize];
        }
        LockFileName {
            digits,
            len: significant as u8,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).expect("hex digits are ASCII")
    }

    /// The digits, for building paths without the UTF-8 check of [`LockFileName::as_str`].
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.digits[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for LockFileName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Whether `file_name` could have been produced by [`lock_file_name`]: 1 to 8 lower-case hex
/// digits without leading zeros (except `0` itself). The collector deletes only such files.
pub fn is_lock_file_name(file_name: &str) -> bool {
    let len_ok = (1..=8).contains(&file_name.len());
    let digits_ok = file_name
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let no_padding = file_name == "0" || !file_name.starts_with('0');
    len_ok && digits_ok && no_padding
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn spec_vectors() {
        assert_eq!(lock_file_name("hello"), "248bfa47");
        assert_eq!(lock_file_name("git_data_manager"), "ed4a9a4");
        assert_eq!(lock_file_name(""), "0");
    }

    #[test]
    fn sha256_names_are_lockgates() {
        // lockgate's util.Sha256Hash("hello"): fmt.Sprintf("%x", sha256.Sum256(...)).
        assert_eq!(
            lock_file_name_with(LockFileNaming::Sha256, "hello"),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(
            lock_file_name_with(LockFileNaming::Sha256, ""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            lock_file_name_with(LockFileNaming::Murmur3, "hello"),
            "248bfa47"
        );
    }

    #[test]
    fn published_vectors() {
        // From the SMHasher verification set and widely published test tables.
        assert_eq!(murmur3_x86_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_x86_32(b"", 0xffff_ffff), 0x81f1_6f39);
        assert_eq!(murmur3_x86_32(&[0xff, 0xff, 0xff, 0xff], 0), 0x7629_3b50);
        assert_eq!(murmur3_x86_32(&[0x21, 0x43, 0x65, 0x87], 0), 0xf55b_516b);
        assert_eq!(murmur3_x86_32(&[0x21, 0x43, 0x65], 0), 0x7e4a_8634);
        assert_eq!(murmur3_x86_32(&[0x21, 0x43], 0), 0xa0f7_b07a);
        assert_eq!(murmur3_x86_32(&[0x21], 0), 0x7266_1cf4);
        assert_eq!(murmur3_x86_32(b"Hello, world!", 1234), 0xfaf6_cdb3);
        assert_eq!(
            murmur3_x86_32(b"The quick brown fox jumps over the lazy dog", 0),
            0x2e4f_f723
        );
    }

    #[test]
    fn lock_file_names_are_recognised() {
        assert!(is_lock_file_name("0"));
        assert!(is_lock_file_name("ed4a9a4"));
        assert!(is_lock_file_name("ffffffff"));
        assert!(!is_lock_file_name(""));
        assert!(!is_lock_file_name("0ed4a9a4"));
        assert!(!is_lock_file_name("123456789"));
        assert!(!is_lock_file_name("ABC"));
        assert!(!is_lock_file_name("tmp.1"));
    }

    proptest! {
        #[test]
        fn matches_independent_implementation(data in proptest::collection::vec(any::<u8>(), 0..200), seed in any::<u32>()) {
            let theirs = murmur3::murmur3_32(&mut std::io::Cursor::new(&data), seed).unwrap();
            prop_assert_eq!(murmur3_x86_32(&data, seed), theirs);
        }

        #[test]
        fn inline_name_is_lower_hex_of_the_hash(hash in prop_oneof![any::<u32>(), 0u32..=0x1_0000]) {
            let inline = LockFileName::from_hash(hash);
            prop_assert_eq!(inline.as_str(), format!("{hash:x}"));
        }

        #[test]
        fn every_name_maps_to_a_collectable_file_name(name in ".*") {
            prop_assert!(is_lock_file_name(&lock_file_name(&name)));
        }
    }
}
