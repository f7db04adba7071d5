//! How a region's writer marks its updates, and consistent copies in and out by that protocol.

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
    /// No protocol: copies are a best effort, and may be torn while the writer writes.
    Raw,
}

/// Layout names, for messages.
pub const LAYOUTS: &str = "versioned, seqlock, raw";

/// How long a copy waits for a writer before it is given up (and tried at the next poll).
pub const PATIENCE: Duration = Duration::from_millis(50);

impl Layout {
    /// The layout of a command line's `NAME:LAYOUT` suffix.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "versioned" => Ok(Self::Versioned),
            "seqlock" => Ok(Self::Seqlock),
            "raw" => Ok(Self::Raw),
            // The crate's DoubleBuffer keeps its slot rule private, and its size is part of its
            // type: a mirror of one needs the library to read and write it by size first.
            "double-buffer" => Err(
                "double-buffer regions cannot be mirrored or shown yet: the library reads and \
                 writes a DoubleBuffer only as a typed value, not by size"
                    .to_owned(),
            ),
            other => Err(format!("unknown layout {other:?} (known: {LAYOUTS})")),
        }
    }

    /// The layout a name suggests when none is given: the rF2 plugin's buffers are versioned.
    pub fn hinted(name: &str) -> Self {
        let object = name.strip_prefix("Local\\").unwrap_or(name);
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
            Self::Raw => "raw",
        }
    }

    /// Its number in a frame.
    pub fn code(self) -> u8 {
        match self {
            Self::Versioned => 1,
            Self::Seqlock => 2,
            Self::Raw => 3,
        }
    }

    /// Where the data starts: after the counters.
    pub fn data_offset(self) -> usize {
        match self {
            Self::Versioned | Self::Seqlock => 8,
            Self::Raw => 0,
        }
    }

    fn versioning(self) -> Option<Versioning> {
        match self {
            Self::Versioned => Some(Versioning::BeginEnd { begin: 0, end: 4 }),
            Self::Seqlock => Some(Versioning::OddEven { sequence: 0 }),
            Self::Raw => None,
        }
    }

    /// The data's size in a region of `len` bytes, or why the region cannot have this layout.
    pub fn data_len(self, name: &str, len: usize) -> Result<usize, String> {
        len.checked_sub(self.data_offset()).ok_or_else(|| {
            format!(
                "`{name}` has {len} bytes, too few for the {} layout's counters",
                self.name()
            )
        })
    }

    /// The counters (begin and end, or the sequence and 0), as they are now; `None` for raw.
    /// A hint of change only: the copy itself is what is checked.
    pub fn counters<A: Access>(self, region: &SharedMemory<A>) -> Option<[u32; 2]> {
        match self {
            Self::Versioned | Self::Seqlock => region.read_at::<[u32; 2]>(0).ok(),
            Self::Raw => None,
        }
    }

    /// Copies the region's data into `target` (its data length) by the layout's protocol.
    pub fn snapshot<A: Access>(
        self,
        region: &SharedMemory<A>,
        target: &mut [u8],
    ) -> Result<(), SharedMemoryError> {
        match self.versioning() {
            Some(versioning) => {
                region.read_versioned_into(self.data_offset(), versioning, target, PATIENCE)
            }
            None => region.read_bytes_at(0, target),
        }
    }

    /// Writes `bytes` at `at` in the region's data by the layout's protocol, so that its
    /// readers never take a torn copy (raw: no protocol, a plain write).
    pub fn publish(
        self,
        region: &mut SharedMemory<ReadWrite>,
        at: usize,
        bytes: &[u8],
    ) -> Result<(), SharedMemoryError> {
        let offset = self.data_offset() + at;
        match self.versioning() {
            Some(versioning) => region.write_versioned(offset, versioning, bytes),
            None => region.write_at(offset, bytes),
        }
    }
}

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
        assert!(
            parse_region("x:double-buffer")
                .unwrap_err()
                .contains("typed")
        );
    }

    #[test]
    fn a_versioned_copy_is_published_and_read_back_by_the_protocol() {
        for layout in [Layout::Versioned, Layout::Seqlock, Layout::Raw] {
            let name = format!("wsm_layout_unit_{}_{}", layout.name(), std::process::id());
            let mut region = SharedMemory::<ReadWrite>::create(&name, 8 + 16).unwrap();
            let mut data: Vec<u8> = (0..layout.data_len(&name, 24).unwrap() as u8).collect();
            layout.publish(&mut region, 0, &data).unwrap();
            // A part, at an offset in the data.
            layout.publish(&mut region, 2, &[99, 99]).unwrap();
            data[2..4].copy_from_slice(&[99, 99]);
            let mut copy = vec![0; data.len()];
            layout.snapshot(&region, &mut copy).unwrap();
            assert_eq!(copy, data, "{layout:?}");
            if layout != Layout::Raw {
                // Two writes: the counters say so (begin = end = 2, or the sequence at 4).
                let expected = if layout == Layout::Versioned {
                    [2, 2]
                } else {
                    [4, 0]
                };
                assert_eq!(layout.counters(&region), Some(expected));
            }
        }
        assert!(
            Layout::Versioned
                .data_len("tiny", 4)
                .unwrap_err()
                .contains("tiny")
        );
    }
}
