//! How a region's writer marks its updates, and consistent copies in and out by that protocol.

use std::ops::Range;
use std::time::Duration;

use win_shared_memory::sync::Versioning;
use win_shared_memory::{Access, ReadWrite, SharedMemory, SharedMemoryError};

/// The protocol of a region, as `NAME:LAYOUT` gives it on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Begin and end counters (`u32` at 0 and 4), data from 8: rFactor 2's
    /// `rF2MappedBufferVersionBlock`, read as `read_versioned`'s `BeginEnd` reads it.
    Versioned,
    /// The crate's `SeqLock` as the whole region: its sequence at 0 (odd while writing), data
    /// from 8.
    Seqlock,
    /// The crate's `DoubleBuffer` as the whole region: its sequence at 0, then two slots of the
    /// value (of an alignment of at most 8), of the size given (`double-buffer@BYTES`) or else
    /// each half of what follows the sequence: exact for a value whose size is a multiple of
    /// 4 bytes (another size leaves padding after the slots, which the length cannot tell
    /// from the value).
    DoubleBuffer {
        /// The value's size, if given.
        value: Option<usize>,
    },
    /// No protocol: copies are a best effort, and may be torn while the writer writes.
    Raw,
}

/// Layout names, for messages.
pub const LAYOUTS: &str = "versioned, seqlock, double-buffer[@BYTES], raw";

/// How long a copy waits for a writer before it is given up (and tried at the next poll).
pub const PATIENCE: Duration = Duration::from_millis(50);

impl Layout {
    /// The layout of a command line's `NAME:LAYOUT` suffix.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "versioned" => Ok(Self::Versioned),
            "seqlock" => Ok(Self::Seqlock),
            "double-buffer" => Ok(Self::DoubleBuffer { value: None }),
            "raw" => Ok(Self::Raw),
            other => match other.strip_prefix("double-buffer@") {
                Some(bytes) => match bytes.parse() {
                    Ok(value) if value > 0 => Ok(Self::DoubleBuffer { value: Some(value) }),
                    _ => Err(format!(
                        "{other:?}: the value's size is a number of bytes, at least 1"
                    )),
                },
                None => Err(format!("unknown layout {other:?} (known: {LAYOUTS})")),
            },
        }
    }

    /// The layout a name suggests when none is given: the rF2 plugin's buffers are versioned.
    pub fn hinted(name: &str) -> Self {
        let object = crate::object_name(name);
        if object.starts_with("$rFactor2SMMP_") {
            Self::Versioned
        } else {
            Self::Raw
        }
    }

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Versioned => "versioned",
            Self::Seqlock => "seqlock",
            Self::DoubleBuffer { .. } => "double-buffer",
            Self::Raw => "raw",
        }
    }

    /// Its number in a frame.
    pub fn code(self) -> u8 {
        match self {
            Self::Versioned => 1,
            Self::Seqlock => 2,
            Self::Raw => 3,
            Self::DoubleBuffer { .. } => 4,
        }
    }

    /// Where the data starts: after the counters (a double buffer's value is in either slot
    /// after them).
    pub fn data_offset(self) -> usize {
        match self {
            Self::Versioned | Self::Seqlock | Self::DoubleBuffer { .. } => 8,
            Self::Raw => 0,
        }
    }

    /// The data's size in a region of `len` bytes (a double buffer's value: one slot), or why
    /// the region cannot have this layout.
    pub fn data_len(self, name: &str, len: usize) -> Result<usize, String> {
        let after = len.checked_sub(self.data_offset()).ok_or_else(|| {
            format!(
                "`{name}` has {len} bytes, too few for the {} layout's counters",
                self.name()
            )
        })?;
        match self {
            Self::DoubleBuffer { value: Some(value) } => match value.checked_mul(2) {
                Some(slots) if slots <= after => Ok(value),
                _ => Err(format!(
                    "`{name}` has {len} bytes, too few for a double buffer of a {value}-byte \
                     value (8 bytes of sequence and two slots)"
                )),
            },
            Self::DoubleBuffer { value: None } if after == 0 || after % 2 != 0 => Err(format!(
                "`{name}` has {len} bytes, not a double buffer's 8 bytes of sequence and two \
                 slots of one size (give the value's size: {name}:double-buffer@BYTES)"
            )),
            Self::DoubleBuffer { value: None } => Ok(after / 2),
            _ => Ok(after),
        }
    }

    /// The data's size in the region `region` of this machine, as [`Layout::data_len`] gives
    /// it from its length; but a double buffer's value size is not guessed on Windows, where
    /// Wine (and Proton) report a region's length rounded up to whole pages, and a program
    /// cannot tell whether it runs under Wine.
    pub fn data_len_here<A: Access>(
        self,
        name: &str,
        region: &SharedMemory<A>,
    ) -> Result<usize, String> {
        if cfg!(windows) && self == (Self::DoubleBuffer { value: None }) {
            return Err(format!(
                "`{name}`: give the double buffer's value size ({name}:double-buffer@BYTES): \
                 under Wine a region's length is rounded up to whole pages, so it does not tell"
            ));
        }
        self.data_len(name, region.len())
    }

    /// The counters (begin and end, or the sequence and the word beside it), as they are now;
    /// `None` for raw. A hint of change only: the copy itself is what is checked.
    pub fn counters<A: Access>(self, region: &SharedMemory<A>) -> Option<[u32; 2]> {
        match self {
            Self::Raw => None,
            _ => region.read_at::<[u32; 2]>(0).ok(),
        }
    }

    /// The counters of a whole copy ([`Layout::snapshot_whole`]), as [`Layout::counters`]
    /// gives them; `None` for raw.
    pub fn counters_in(self, copy: &[u8]) -> Option<[u32; 2]> {
        let word = |at: usize| Some(u32::from_ne_bytes(copy.get(at..at + 4)?.try_into().ok()?));
        match self {
            Self::Raw => None,
            _ => Some([word(0)?, word(4)?]),
        }
    }

    /// Copies the region's data into `target` (its data length) by the layout's protocol.
    pub fn snapshot<A: Access>(
        self,
        region: &SharedMemory<A>,
        target: &mut [u8],
    ) -> Result<(), SharedMemoryError> {
        match self {
            Self::Versioned => region.read_versioned_into(8, BEGIN_END, target, PATIENCE),
            Self::Seqlock => region.read_versioned_into(8, SEQUENCE, target, PATIENCE),
            Self::DoubleBuffer { .. } => region.read_double_buffer_into(0, target, PATIENCE),
            Self::Raw => region.read_bytes_at(0, target),
        }
    }

    /// Copies the counters and the data (the data offset and the data length) into `target`
    /// by the layout's protocol: the counters are those of the data beside them, but for a
    /// double buffer, whose sequence is read just before its value is copied.
    pub fn snapshot_whole<A: Access>(
        self,
        region: &SharedMemory<A>,
        target: &mut [u8],
    ) -> Result<(), SharedMemoryError> {
        match self {
            Self::Versioned => region.read_versioned_into(0, BEGIN_END, target, PATIENCE),
            Self::Seqlock => region.read_versioned_into(0, SEQUENCE, target, PATIENCE),
            Self::DoubleBuffer { .. } => {
                let (counters, value) = target.split_at_mut(8);
                region.read_bytes_at(0, counters)?;
                region.read_double_buffer_into(0, value, PATIENCE)
            }
            Self::Raw => region.read_bytes_at(0, target),
        }
    }

    /// Writes the `span` of `data` (a whole copy's data) into the region by the layout's
    /// protocol, so that its readers never take a torn copy (raw: no protocol, a plain write).
    /// A double buffer's write fills a slot that holds an older value: all of `data` goes.
    pub fn publish(
        self,
        region: &mut SharedMemory<ReadWrite>,
        data: &[u8],
        span: Range<usize>,
    ) -> Result<(), SharedMemoryError> {
        let offset = self.data_offset() + span.start;
        match self {
            Self::Versioned => region.write_versioned(offset, BEGIN_END, &data[span]),
            Self::Seqlock => region.write_versioned(offset, SEQUENCE, &data[span]),
            Self::DoubleBuffer { .. } => region.write_double_buffer(0, data),
            Self::Raw => region.write_at(offset, &data[span]),
        }
    }
}

/// rFactor 2's counters, and the crate's sequence as `read_versioned` reads it.
const BEGIN_END: Versioning = Versioning::BeginEnd { begin: 0, end: 4 };
const SEQUENCE: Versioning = Versioning::OddEven { sequence: 0 };

/// `NAME` or `NAME:LAYOUT`, the layout hinted from the name when not given.
pub fn parse_region(arg: &str) -> Result<(String, Layout), String> {
    let (name, layout) = match arg.rsplit_once(':') {
        Some((name, layout)) => (name, Layout::parse(layout)?),
        None => (arg, Layout::hinted(arg)),
    };
    if name.is_empty() {
        return Err(format!("{arg:?} has no region name"));
    }
    Ok((name.to_owned(), layout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_and_without_layouts() {
        assert_eq!(
            parse_region("$rFactor2SMMP_Telemetry$"),
            Ok(("$rFactor2SMMP_Telemetry$".into(), Layout::Versioned))
        );
        assert_eq!(parse_region("x"), Ok(("x".into(), Layout::Raw)));
        assert_eq!(
            parse_region("Local\\x:seqlock"),
            Ok(("Local\\x".into(), Layout::Seqlock))
        );
        assert!(
            parse_region("x:frob")
                .unwrap_err()
                .contains("unknown layout")
        );
        assert!(parse_region(":raw").unwrap_err().contains("no region name"));
        assert_eq!(
            parse_region("x:double-buffer"),
            Ok(("x".into(), Layout::DoubleBuffer { value: None }))
        );
        assert_eq!(
            parse_region("x:double-buffer@6"),
            Ok(("x".into(), Layout::DoubleBuffer { value: Some(6) }))
        );
        for bad in [
            "x:double-buffer@",
            "x:double-buffer@0",
            "x:double-buffer@-1",
        ] {
            assert!(parse_region(bad).unwrap_err().contains("size"), "{bad}");
        }
    }

    #[test]
    fn a_copy_is_published_and_read_back_by_the_protocol() {
        let layouts = [
            Layout::Versioned,
            Layout::Seqlock,
            Layout::DoubleBuffer { value: None },
            Layout::DoubleBuffer { value: Some(6) },
            Layout::Raw,
        ];
        for layout in layouts {
            let name = format!("wsm_layout_unit_{}_{}", layout.name(), std::process::id());
            let mut region = SharedMemory::<ReadWrite>::create(&name, 8 + 16).unwrap();
            let len = layout.data_len(&name, 24).unwrap();
            let mut data: Vec<u8> = (0..len as u8).collect();
            layout.publish(&mut region, &data, 0..len).unwrap();
            // A part, at an offset in the data.
            data[2..4].copy_from_slice(&[99, 99]);
            layout.publish(&mut region, &data, 2..4).unwrap();
            let mut copy = vec![0; len];
            layout.snapshot(&region, &mut copy).unwrap();
            assert_eq!(copy, data, "{layout:?}");
            let mut whole = vec![0; layout.data_offset() + len];
            layout.snapshot_whole(&region, &mut whole).unwrap();
            assert_eq!(whole[layout.data_offset()..], data[..], "{layout:?}");
            assert_eq!(layout.counters_in(&whole), layout.counters(&region));
            // Two writes: the counters say so (begin = end = 2, or the sequence at 4).
            let expected = match layout {
                Layout::Versioned => Some(2),
                Layout::Seqlock | Layout::DoubleBuffer { .. } => Some(4),
                Layout::Raw => None,
            };
            assert_eq!(layout.counters(&region).map(|[first, _]| first), expected);
        }
        let guessed = Layout::DoubleBuffer { value: None };
        assert_eq!(guessed.data_len("db", 8 + 2 * 12), Ok(12));
        for (name, len) in [("tiny", 4), ("odd", 8 + 7), ("empty", 8)] {
            let error = guessed.data_len(name, len).unwrap_err();
            assert!(error.contains(name), "{error}");
        }
        // A 6-byte value: its region of 24 bytes has 4 of padding after the slots.
        let given = Layout::DoubleBuffer { value: Some(6) };
        assert_eq!(given.data_len("db", 24), Ok(6));
        assert!(given.data_len("db", 19).unwrap_err().contains("6-byte"));
        let huge = Layout::DoubleBuffer {
            value: Some(usize::MAX),
        };
        assert!(huge.data_len("db", 24).is_err());
    }
}
