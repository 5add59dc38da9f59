//! The share group's key: which tabs share one connection, and the names of its
//! locks and channel.

use super::RELAY_VERSION;
use crate::prelude::*;

/// `shared: true` names this group.
pub const DEFAULT_GROUP: &str = "default";

/// FNV-1a, 64 bits: stable across engines and versions, and a few bytes of wasm.
fn fnv1a64(parts: &[&str]) -> u64 {
    const PRIME: u64 = 0x0100_0000_01b3;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hash = hash.wrapping_mul(PRIME); // a NUL byte between parts (x ^ 0 = x)
        }
        for byte in part.bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(PRIME);
        }
    }
    hash
}

/// The key of the group of tabs that share a connection: the url, the group
/// (`shared: true` is [`DEFAULT_GROUP`]) and the static token (empty with
/// `getToken`), hashed so that no token appears in a lock or channel name.
pub fn group_key(url: &str, group: &str, token: &str) -> String {
    let mut key = String::with_capacity(16);
    crate::client::push_hex(&mut key, fnv1a64(&[url, group, token]), 16);
    key
}

/// The leader lock's name for a group key; a tab's own lock is this name, `/`,
/// and the tab id. The relay version is in the name: tabs of another version
/// never share with these.
pub fn lock_name(key: &str) -> String {
    let mut name = String::from("wsguard/");
    crate::client::push_decimal(&mut name, RELAY_VERSION.into());
    name.push('/');
    name.push_str(key);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_fnv1a_over_the_parts_separated_by_nul() {
        assert_eq!(fnv1a64(&[""]), 0xcbf2_9ce4_8422_2325, "FNV-1a offset basis");
        assert_eq!(
            fnv1a64(&["a"]),
            0xaf63_dc4c_8601_ec8c,
            "published FNV-1a 64 of \"a\""
        );
        assert_eq!(fnv1a64(&["a", "b"]), fnv1a64(&["a\0b"]));
        let key = group_key("ws://127.0.0.1:8080/ws", DEFAULT_GROUP, "alice");
        assert_eq!(key.len(), 16);
        assert!(key
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(
            format!(
                "{:016x}",
                fnv1a64(&["ws://127.0.0.1:8080/ws", "default", "alice"])
            ),
            key
        );
    }

    #[test]
    fn tabs_with_another_url_group_or_token_never_share() {
        let key = group_key("ws://h/ws", DEFAULT_GROUP, "alice");
        assert_ne!(key, group_key("ws://h/ws/", DEFAULT_GROUP, "alice"));
        assert_ne!(key, group_key("ws://h/ws", "other", "alice"));
        assert_ne!(key, group_key("ws://h/ws", DEFAULT_GROUP, "bob"));
        assert_ne!(
            group_key("ab", "c", ""),
            group_key("a", "bc", ""),
            "parts are separated"
        );
        assert_eq!(lock_name(&key), format!("wsguard/2/{key}"));
    }
}
