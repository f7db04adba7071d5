//! The rules of the Wine boundary, the same on every OS, so that the native side and a Windows
//! program under Wine ([`Options::linux_host`](crate::Options::linux_host)) agree on them and a
//! test on any machine checks them: which host file a region name is, and the mark that says
//! the crate made a file.
//!
//! # The mark
//!
//! A region's file is the crate's, and so may be removed when nobody holds it, only if no
//! other user and no plain program could have made it look so. The native side marks its
//! objects with the sticky bit, which only the owner can set. A Windows program cannot set a
//! mode, so its mark is two things together that it can set through Wine: the DOS attributes
//! `HIDDEN | SYSTEM` (Wine keeps them as the text `0x6` in the extended attribute
//! `user.DOSATTRIB`) and the last-access time [`MARK_ACCESSED`], far in the future. Anyone who
//! may write a file can set its extended attributes, but only its owner can set a chosen time
//! (`utimensat`; others may only set the current time), and no program picks that instant by
//! chance. Native objects carry all three, so that either side recognises the other's.
//!
//! Why the access time: every process's first write to a page of a shared mapping sets the
//! file's modification time, but an access time later than the modification time and not in
//! the past is left alone by the `relatime` and `noatime` mounts (the default of `/dev/shm`).
//! On a `strictatime` mount the first access wipes it: files the Windows side made are then
//! treated as another program's, never removed by the native side, which errs on the safe
//! side (and the Windows side leaves native files to native holders).

// The portable backend (macOS) removes no region it did not create, so it needs no mark.
#![cfg_attr(
    not(any(windows, wsm_holder_locks)),
    allow(
        dead_code,
        reason = "only the Linux and Windows sides read and set marks"
    )
)]

/// The namespace prefix that Windows and Unix names share for one object.
const LOCAL_PREFIX: &str = "Local\\";
/// The prefix of the global namespace, which has no host file a Windows program can spell.
const GLOBAL_PREFIX: &str = "Global\\";

/// The longest file name Linux allows.
const MAX_FILE_NAME: usize = 255;

/// The name of a region's file in the host's `/dev/shm`: the name without a `Local\` prefix
/// (`Global\x` keeps its prefix, a file name with a backslash in it).
pub(crate) fn shm_file_name(name: &str) -> &str {
    name.strip_prefix(LOCAL_PREFIX).unwrap_or(name)
}

/// The host file name (in `/dev/shm`) of a region name, when a Windows program can open that
/// file as `Z:\dev\shm\<file name>`; else why not.
#[cfg_attr(
    not(windows),
    allow(
        dead_code,
        reason = "only Windows programs open host files by their Windows name"
    )
)]
pub(crate) fn windows_file_name(name: &str) -> Result<&str, &'static str> {
    if name.starts_with(GLOBAL_PREFIX) {
        return Err(
            "a `Global\\` name is `/Global\\x` on Linux, a file name Windows cannot spell: use a `Local\\` name with the linux_host option",
        );
    }
    let rest = shm_file_name(name);
    if rest.len() > MAX_FILE_NAME - 1 {
        return Err(
            "the name is longer than the 254 bytes a Linux file name allows (after a `Local\\` prefix)",
        );
    }
    if rest
        .chars()
        .any(|c| c < ' ' || matches!(c, '<' | '>' | ':' | '"' | '/' | '|' | '?' | '*'))
    {
        return Err(
            "with the linux_host option the name is a file name: no control characters and none of < > : \" / | ? *",
        );
    }
    if rest.ends_with(['.', ' ']) {
        return Err(
            "with the linux_host option the name is a file name, which Windows would strip of a trailing dot or space",
        );
    }
    let stem = rest.split('.').next().unwrap_or(rest).to_ascii_uppercase();
    let device = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || (stem.len() == 4
            && (stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.as_bytes()[3].is_ascii_digit());
    if device {
        return Err(
            "with the linux_host option the name is a file name, and this one is a DOS device (CON, NUL, COM1, …)",
        );
    }
    Ok(rest)
}

/// The byte of a region's file that every holder locks shared for as long as it holds the
/// region (and a leaving one tries to lock exclusively: whether it is the last). Both sides take
/// the same byte ranges: Linux as open-file-description locks, Windows under Wine as
/// `LockFileEx`, which wineserver turns into POSIX locks of the file, and the two kinds
/// conflict.
pub(crate) const HOLDERS_BYTE: u32 = 0;

/// The byte of a region's file that the writer role locks exclusively (see
/// [`HOLDERS_BYTE`] for why both sides see each other's).
pub(crate) const WRITER_ROLE_BYTE: u32 = 1;

/// The DOS attributes of the mark: `HIDDEN | SYSTEM`.
pub(crate) const MARK_ATTRIBUTES: u32 = 0x2 | 0x4;

/// The extended attribute in which Wine keeps a file's DOS attributes, and the text it writes
/// for the mark's.
#[cfg_attr(
    not(wsm_holder_locks),
    allow(
        dead_code,
        reason = "only the native Linux side reads extended attributes"
    )
)]
pub(crate) const DOS_ATTRIBUTES_XATTR: &str = "user.DOSATTRIB";
#[cfg_attr(
    not(wsm_holder_locks),
    allow(
        dead_code,
        reason = "only the native Linux side writes extended attributes"
    )
)]
pub(crate) const MARK_ATTRIBUTES_TEXT: &[u8] = b"0x6";

/// A file time, as seconds and nanoseconds since 1970 (Unix's form).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileTime {
    pub(crate) seconds: i64,
    pub(crate) nanoseconds: u32,
}

/// The last-access time of a marked file: 2100-01-01 00:00:00.0314159 UTC. A multiple of
/// 100 ns, so that Windows' file times (100 ns units since 1601) hold it exactly.
pub(crate) const MARK_ACCESSED: FileTime = FileTime {
    seconds: 4_102_444_800,
    nanoseconds: 31_415_900,
};

/// Seconds from 1601-01-01, where Windows' file times start, to 1970-01-01.
const SECONDS_1601_TO_1970: i64 = 11_644_473_600;

impl FileTime {
    /// The time as a Windows file time: 100 ns units since 1601.
    #[cfg_attr(
        not(windows),
        allow(dead_code, reason = "only Windows programs use file times")
    )]
    pub(crate) const fn file_time(self) -> i64 {
        (self.seconds + SECONDS_1601_TO_1970) * 10_000_000 + self.nanoseconds as i64 / 100
    }

    /// The time of a Windows file time (100 ns units since 1601).
    #[cfg_attr(
        not(any(windows, test)),
        allow(dead_code, reason = "only Windows programs use file times")
    )]
    pub(crate) const fn from_file_time(ticks: i64) -> Self {
        let since_1970 = ticks - SECONDS_1601_TO_1970 * 10_000_000;
        Self {
            seconds: since_1970.div_euclid(10_000_000),
            // The remainder is below 10^7 ticks, 10^9 ns, which a u32 holds.
            nanoseconds: (since_1970.rem_euclid(10_000_000) * 100) as u32,
        }
    }
}

/// Whether a file with these DOS attributes and this access time carries the mark that a
/// Windows program of the crate sets (the native side also accepts its own mode bits).
pub(crate) fn is_marked(attributes: u32, accessed: FileTime) -> bool {
    attributes & MARK_ATTRIBUTES == MARK_ATTRIBUTES && accessed == MARK_ACCESSED
}

/// The DOS attributes in Wine's extended attribute text (`0x6`, maybe NUL-terminated).
#[cfg_attr(
    not(wsm_holder_locks),
    allow(
        dead_code,
        reason = "only the native Linux side reads extended attributes"
    )
)]
pub(crate) fn parse_dos_attributes(text: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(text).ok()?.trim_end_matches('\0');
    u32::from_str_radix(text.strip_prefix("0x")?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_file_names_are_the_native_encoding() {
        assert_eq!(windows_file_name("Local\\game"), Ok("game"));
        assert_eq!(windows_file_name("game"), Ok("game"));
        assert_eq!(shm_file_name("Global\\game"), "Global\\game");
        assert_eq!(
            windows_file_name("$rFactor2SMMP_Telemetry$"),
            Ok("$rFactor2SMMP_Telemetry$")
        );
        assert_eq!(
            windows_file_name("Local\\con.txt.x"),
            Err(windows_file_name("con").unwrap_err())
        );
    }

    #[test]
    fn names_windows_cannot_open_as_files_are_refused() {
        for name in [
            "Global\\game",
            "Local\\a:b",
            "a*b",
            "a?b",
            "a|b",
            "a\"b",
            "a<b",
            "a>b",
            "a\u{1}b",
            "trailing.",
            "trailing ",
            "NUL",
            "com1",
            "Lpt9.log",
            "aux",
        ] {
            assert!(windows_file_name(name).is_err(), "{name:?}");
        }
        assert!(windows_file_name(&"x".repeat(254)).is_ok());
        assert!(windows_file_name(&"x".repeat(255)).is_err());
        assert!(windows_file_name("com10").is_ok());
    }

    /// The attributes alone, which any writer of a file (or a plain Windows program) can set,
    /// are no mark; nor is the time alone, nor a time a tick away.
    #[test]
    fn the_mark_needs_the_attributes_and_the_exact_time() {
        assert!(is_marked(0x6, MARK_ACCESSED));
        assert!(is_marked(0x6 | 0x20, MARK_ACCESSED));
        assert!(!is_marked(
            0x6,
            FileTime {
                seconds: 1_700_000_000,
                nanoseconds: 0
            }
        ));
        assert!(!is_marked(0x2, MARK_ACCESSED));
        let a_tick_later = FileTime {
            nanoseconds: MARK_ACCESSED.nanoseconds + 100,
            ..MARK_ACCESSED
        };
        assert!(!is_marked(0x6, a_tick_later));
    }

    /// The file time Windows reads is Wine's conversion of the Unix time: whole ticks.
    #[test]
    fn the_mark_time_is_exact_in_windows_file_time() {
        assert_eq!(MARK_ACCESSED.nanoseconds % 100, 0);
        // 2100-01-01 is 157 469 184 000 000 000 ticks after 1601-01-01.
        assert_eq!(MARK_ACCESSED.file_time(), 157_469_184_000_000_000 + 314_159);
        assert_eq!(
            FileTime::from_file_time(MARK_ACCESSED.file_time()),
            MARK_ACCESSED
        );
        let before_1970 = FileTime {
            seconds: -1,
            nanoseconds: 500,
        };
        assert_eq!(
            FileTime::from_file_time(before_1970.file_time()),
            before_1970
        );
    }

    #[test]
    fn wine_attribute_text_is_parsed() {
        assert_eq!(parse_dos_attributes(b"0x6"), Some(6));
        assert_eq!(parse_dos_attributes(b"0x26\0"), Some(0x26));
        assert_eq!(parse_dos_attributes(b"6"), None);
        assert_eq!(parse_dos_attributes(b"0xzz"), None);
        assert_eq!(parse_dos_attributes(&[0xff, 0xfe]), None);
    }
}
