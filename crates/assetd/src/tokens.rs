//! API tokens: 256 random bits shown once as 64 hex digits, stored only as their SHA-256.
//!
//! A plain hash is enough because the token is uniformly random: there is nothing to guess
//! faster than brute-forcing 2^256. The stored hash is compared in constant time after the lookup.

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The SHA-256 of a token, the only form that is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// Hashes a token as presented by a client.
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// Constant-time equality.
    pub fn matches(&self, other: &[u8]) -> bool {
        other.len() == 32 && bool::from(self.0.ct_eq(other))
    }
}

/// A new random token (64 lower-case hex digits) and its hash.
pub fn generate() -> (Zeroizing<String>, TokenHash) {
    let mut raw = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(&mut *raw);
    let token = Zeroizing::new(hex::encode(*raw));
    let hash = TokenHash::of(&token);
    (token, hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_256_bit_hex_and_hash_consistently() {
        let (a, ha) = generate();
        let (b, hb) = generate();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(*a, *b);
        assert_ne!(ha, hb);
        assert_eq!(TokenHash::of(&a), ha);
        assert!(ha.matches(&TokenHash::of(&a).0));
        assert!(!ha.matches(&hb.0));
        assert!(!ha.matches(&ha.0[..31]));
    }
}
