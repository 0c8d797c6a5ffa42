//! Work that one task at a time should do: a document being fetched, a sync session running.
//! A second task asking for the same item gets nothing and leaves it to the first, so that two
//! triggers at once (a digest round and an index update) never fetch a document twice.

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::Mutex;

pub struct Claims<K>(Mutex<HashSet<K>>);

impl<K> Default for Claims<K> {
    fn default() -> Self {
        Self(Mutex::new(HashSet::new()))
    }
}

impl<K: Clone + Eq + Hash> Claims<K> {
    /// Claims those of `keys` nobody holds; they are released when the result is dropped.
    pub fn claim(&self, keys: impl IntoIterator<Item = K>) -> Claimed<'_, K> {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let keys = keys
            .into_iter()
            .filter(|k| held.insert(k.clone()))
            .collect();
        Claimed { claims: self, keys }
    }
}

pub struct Claimed<'a, K: Clone + Eq + Hash> {
    claims: &'a Claims<K>,
    pub keys: Vec<K>,
}

impl<K: Clone + Eq + Hash> Drop for Claimed<'_, K> {
    fn drop(&mut self) {
        let mut held = self.claims.0.lock().unwrap_or_else(|e| e.into_inner());
        for k in &self.keys {
            held.remove(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claimed_key_is_given_to_nobody_else_until_released() {
        let claims = Claims::default();
        let first = claims.claim(["a", "b"]);
        assert_eq!(first.keys, ["a", "b"]);
        assert_eq!(claims.claim(["b", "c"]).keys, ["c"]);
        drop(first);
        assert_eq!(claims.claim(["a", "b"]).keys, ["a", "b"]);
    }
}
