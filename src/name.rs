//! Validation of region names, and their encoding for each operating system.
//!
//! One set of rules holds everywhere, so that a name that works on one OS works on the others:
//! an optional `Global\` or `Local\` namespace prefix, then a non-empty rest with no NUL and
//! no backslash. Unix adds what POSIX cannot represent: no `/`, and a length limit.

use crate::error::SharedMemoryError;

/// The namespace prefixes Windows gives named kernel objects.
const GLOBAL_PREFIX: &str = "Global\\";
const LOCAL_PREFIX: &str = "Local\\";

/// A validated region name: the name as the user gave it, for messages, and its encoding for
/// the operating system.
#[derive(Debug, Clone)]
pub(crate) struct RegionName {
    given: String,
    encoded: Encoded,
}

/// The name in the platform's encoding (`sys` defines it, as it takes it).
type Encoded = crate::sys::EncodedName;

impl RegionName {
    /// Checks `name` and encodes it, or says why it cannot name a region.
    pub(crate) fn new(name: &str) -> Result<Self, SharedMemoryError> {
        let invalid = |reason| SharedMemoryError::InvalidName {
            name: name.to_owned(),
            reason,
        };
        if name.is_empty() {
            return Err(invalid("the name is empty"));
        }
        if name.contains('\0') {
            return Err(invalid(
                "the name contains a NUL character, which would cut it short",
            ));
        }
        let rest = name
            .strip_prefix(GLOBAL_PREFIX)
            .or_else(|| name.strip_prefix(LOCAL_PREFIX))
            .unwrap_or(name);
        if rest.is_empty() {
            return Err(invalid("nothing follows the namespace prefix"));
        }
        if rest.contains('\\') {
            return Err(invalid(
                "a backslash may only end a `Global\\` or `Local\\` prefix",
            ));
        }
        let encoded = encode(name).map_err(invalid)?;
        Ok(Self {
            given: name.to_owned(),
            encoded,
        })
    }

    /// The name as the user gave it.
    pub(crate) fn as_str(&self) -> &str {
        &self.given
    }

    /// The name in the operating system's encoding.
    pub(crate) fn encoded(&self) -> &Encoded {
        &self.encoded
    }
}

/// Windows takes the name as it is: it already is a kernel object name.
#[cfg(windows)]
fn encode(name: &str) -> Result<Encoded, &'static str> {
    Ok(name.encode_utf16().chain(std::iter::once(0)).collect())
}

/// The longest POSIX shared memory name, `/` included: macOS's `PSHMNAMLEN`, elsewhere
/// `NAME_MAX`.
#[cfg(unix)]
const MAX_POSIX_NAME: usize = if cfg!(target_vendor = "apple") {
    31
} else {
    255
};

/// Unix has one namespace, so `Local\x` and `x` (one object on Windows too) become `/x`.
/// `Global\x` keeps its prefix (`/Global\x`): on Windows it is another object than `Local\x`,
/// and no other name encodes to a name with a backslash in it.
#[cfg(unix)]
fn encode(name: &str) -> Result<Encoded, &'static str> {
    let rest = crate::boundary::shm_file_name(name);
    if rest.contains('/') {
        return Err("POSIX shared memory names cannot contain `/`");
    }
    if rest == "." || rest == ".." {
        return Err("POSIX shared memory names cannot be `.` or `..`");
    }
    let encoded = format!("/{rest}");
    if encoded.len() > MAX_POSIX_NAME {
        return Err(if cfg!(target_vendor = "apple") {
            "the name is longer than the 30 bytes macOS allows (after a `Local\\` prefix)"
        } else {
            "the name is longer than the 254 bytes POSIX allows (after a `Local\\` prefix)"
        });
    }
    Ok(encoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(name: &str) -> &'static str {
        match RegionName::new(name) {
            Err(SharedMemoryError::InvalidName {
                name: given,
                reason,
            }) => {
                assert_eq!(given, name);
                reason
            }
            other => panic!("{name:?} should be refused, got {other:?}"),
        }
    }

    #[test]
    fn refuses_what_would_be_truncated_or_changed() {
        assert!(reason("").contains("empty"));
        assert!(reason("Local\\game\0state").contains("NUL"));
        assert!(reason("Local\\").contains("nothing follows"));
        assert!(reason("Global\\").contains("nothing follows"));
        assert!(reason("Local\\a\\b").contains("backslash"));
        assert!(reason("Session\\1\\x").contains("backslash"));
    }

    #[test]
    fn accepts_the_names_0_1_0_users_write() {
        for name in [
            "Local\\my_game_state",
            "Global\\name",
            "$rFactor2SMMP_Telemetry$",
        ] {
            assert_eq!(RegionName::new(name).unwrap().as_str(), name);
        }
    }

    #[cfg(windows)]
    #[test]
    fn windows_encoding_is_the_name_in_utf16_with_a_terminator() {
        let name = RegionName::new("Local\\é").unwrap();
        assert_eq!(name.encoded(), &[76, 111, 99, 97, 108, 92, 0xE9, 0]);
    }

    #[cfg(unix)]
    #[test]
    fn unix_encoding_keeps_names_apart_that_windows_keeps_apart() {
        let encode = |name| RegionName::new(name).unwrap().encoded().clone();
        assert_eq!(encode("Local\\my_game_state"), "/my_game_state");
        assert_eq!(encode("my_game_state"), "/my_game_state");
        assert_eq!(encode("Global\\my_game_state"), "/Global\\my_game_state");
        assert_eq!(
            encode("$rFactor2SMMP_Telemetry$"),
            "/$rFactor2SMMP_Telemetry$"
        );
    }

    #[cfg(unix)]
    #[test]
    fn unix_refuses_what_posix_cannot_represent() {
        assert!(reason("Local\\a/b").contains('/'));
        assert!(reason("Local\\..").contains("`..`"));
        let longest = "x".repeat(MAX_POSIX_NAME - 1);
        assert!(RegionName::new(&format!("Local\\{longest}")).is_ok());
        assert!(reason(&format!("Local\\{longest}x")).contains("longer"));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Strings near the edges of the rules: prefixes, separators, NULs, dots, and any text.
    fn names() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "(Global\\\\|Local\\\\|Session\\\\1\\\\)?[a-z./\\\\\0é]{0,6}",
        ]
    }

    fn prefix() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            Just(""),
            Just("Local\\"),
            Just("Global\\"),
            Just("Session\\1\\")
        ]
    }

    fn rest() -> impl Strategy<Value = String> {
        prop_oneof!["[a-zA-Z0-9_./\\\\\0é$]{0,6}", any::<String>()]
    }

    /// The object a name stands for on every OS: `Local\x` and `x` are one object on Windows
    /// (a session's local namespace) and on Unix.
    fn object(name: &str) -> &str {
        name.strip_prefix(LOCAL_PREFIX).unwrap_or(name)
    }

    proptest! {
        /// Every name is either taken or refused with InvalidName: no other error, no panic.
        #[test]
        fn every_name_is_taken_or_refused_as_invalid(name in names()) {
            match RegionName::new(&name) {
                Ok(region) => prop_assert_eq!(region.as_str(), name.as_str()),
                Err(SharedMemoryError::InvalidName { name: given, .. }) => prop_assert_eq!(given, name),
                Err(other) => prop_assert!(false, "{name:?} got {other:?}"),
            }
        }

        /// Two valid names never share an OS name unless they stand for the same object. The
        /// pairs often share their rest under different prefixes, where collisions would hide.
        #[test]
        fn different_names_never_share_an_os_object(
            (first_prefix, second_prefix) in (prefix(), prefix()),
            (first_rest, other_rest, same_rest) in (rest(), rest(), any::<bool>()),
        ) {
            let first = format!("{first_prefix}{first_rest}");
            let second = format!("{second_prefix}{}", if same_rest { &first_rest } else { &other_rest });
            if let (Ok(a), Ok(b)) = (RegionName::new(&first), RegionName::new(&second)) {
                prop_assert!(
                    a.encoded() != b.encoded() || object(&first) == object(&second),
                    "{first:?} and {second:?} share an OS name"
                );
            }
        }
    }
}
