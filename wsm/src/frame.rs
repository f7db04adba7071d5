//! What the mirror sends for a region: a full copy of its data, the change since the previous
//! copy, or word that it is gone; compressed, in one Zenoh sample.
//!
//! A frame is a 64-byte header, then the payload: the data (a full frame) or the bytewise XOR
//! of the data with the previous frame's over the span where they differ (a delta, mostly
//! zeros), LZ4-compressed. The header (little-endian): `WSM2`, the kind, the layout, 2 bytes
//! zero, the publisher's instance (so a restarted publisher's frames are not taken as the old
//! one's deltas), the frame's number, the number of the frame a delta applies to, the region's
//! size, the data's length, and the span's start and length in the data.

use std::ops::Range;

/// The first bytes of every frame; the kind and the layout follow.
pub const MAGIC: &[u8; 4] = b"WSM2";
const HEADER: usize = 64;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The whole data.
    Full,
    /// The XOR of the data with frame `base`'s, over the span.
    Delta { base: u64 },
    /// The region is gone at the source.
    Gone,
}

/// A decoded frame's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    pub layout: u8,
    pub instance: u64,
    pub number: u64,
    /// The region's size at the source.
    pub region_len: u64,
    /// The data's length (from the layout's data offset to the region's end).
    pub data_len: u64,
    /// Where in the data the payload's bytes go: all of it in a full frame.
    pub span: Range<u64>,
}

/// Encodes a frame: the header, and `span` (the header's span of the data, or of the XOR for
/// a delta), compressed.
pub fn encode(header: &Header, span: &[u8]) -> Vec<u8> {
    let compressed = lz4_flex::block::compress(span);
    let mut frame = Vec::with_capacity(HEADER + compressed.len());
    frame.extend_from_slice(MAGIC);
    let (kind, base) = match header.kind {
        Kind::Full => (0, 0),
        Kind::Delta { base } => (1, base),
        Kind::Gone => (2, 0),
    };
    frame.extend_from_slice(&[kind, header.layout, 0, 0]);
    for word in [
        header.instance,
        header.number,
        base,
        header.region_len,
        header.data_len,
        header.span.start,
        span.len() as u64,
    ] {
        frame.extend_from_slice(&word.to_le_bytes());
    }
    frame.extend_from_slice(&compressed);
    frame
}

/// Decodes a frame's header, refusing anything malformed: a subscriber takes frames from the
/// network.
pub fn decode_header(frame: &[u8]) -> Result<Header, String> {
    if frame.len() < HEADER || &frame[..4] != MAGIC {
        return Err("not a wsm mirror frame (of this version)".to_owned());
    }
    let word = |at: usize| u64::from_le_bytes(frame[at..at + 8].try_into().expect("8 bytes"));
    let kind = match frame[4] {
        0 => Kind::Full,
        1 => Kind::Delta { base: word(24) },
        2 => Kind::Gone,
        other => return Err(format!("unknown frame kind {other}")),
    };
    let data_len = word(40);
    let (start, len) = (word(48), word(56));
    let span = start..start.checked_add(len).ok_or("a span past the end")?;
    let whole = span == (0..data_len);
    if span.end > data_len || (kind == Kind::Full && !whole) {
        return Err("a span outside the data".to_owned());
    }
    Ok(Header {
        kind,
        layout: frame[5],
        instance: word(8),
        number: word(16),
        region_len: word(32),
        data_len,
        span,
    })
}

/// Decompresses the payload of `frame` into `span` (exactly the header's span's length).
pub fn decode_payload(frame: &[u8], span: &mut [u8]) -> Result<(), String> {
    let payload = frame.get(HEADER..).ok_or("a truncated frame")?;
    match lz4_flex::block::decompress_into(payload, span) {
        Ok(len) if len == span.len() => Ok(()),
        Ok(len) => Err(format!(
            "a frame of {len} bytes where {} were due",
            span.len()
        )),
        Err(error) => Err(format!("a corrupt frame: {error}")),
    }
}

/// The span where `old` and `new` (of one length) differ, `None` where nowhere, with
/// `old ^ new` written into `xor` (of their length) over it. The search compares blocks (a
/// `memcmp` each) from either end, then bytes within the first and last changed block: most
/// of a large region, unchanged, is only read.
pub fn difference(old: &[u8], new: &[u8], xor: &mut [u8]) -> Option<Range<usize>> {
    const BLOCK: usize = 256;
    let blocks = || old.chunks(BLOCK).zip(new.chunks(BLOCK));
    let differs = |(a, b): (&[u8], &[u8])| a != b;
    let first_block = blocks().position(differs)?;
    let last_block = blocks().rposition(differs)?;
    let changed = first_block * BLOCK..((last_block + 1) * BLOCK).min(old.len());
    let bytes = || old[changed.clone()].iter().zip(&new[changed.clone()]);
    let first = changed.start + bytes().position(|(a, b)| a != b)?;
    let last = changed.start + bytes().rposition(|(a, b)| a != b)?;
    let span = first..last + 1;
    for ((x, o), n) in xor[span.clone()]
        .iter_mut()
        .zip(&old[span.clone()])
        .zip(&new[span.clone()])
    {
        *x = o ^ n;
    }
    Some(span)
}

/// `target[i] ^= source[i]`: applies a delta's span to a copy (a loop the compiler makes
/// wide by itself).
pub fn xor_into(target: &mut [u8], source: &[u8]) {
    for (byte, change) in target.iter_mut().zip(source) {
        *byte ^= change;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: Kind, data_len: u64, span: Range<u64>) -> Header {
        Header {
            kind,
            layout: 1,
            instance: 7,
            number: 9,
            region_len: data_len + 8,
            data_len,
            span,
        }
    }

    #[test]
    fn a_delta_covers_the_changed_span_and_round_trips() {
        let old: Vec<u8> = (0..100_000_u32).map(|i| (i % 251) as u8).collect();
        let mut new = old.clone();
        new[500] ^= 0x55;
        new[60_001] = 1;
        let mut xor = vec![0; old.len()];
        let span = difference(&old, &new, &mut xor).unwrap();
        assert_eq!(span, 500..60_002);
        let span64 = span.start as u64..span.end as u64;
        let delta = header(Kind::Delta { base: 8 }, 100_000, span64.clone());
        let frame = encode(&delta, &xor[span.clone()]);
        assert!(frame.len() < 1_000, "{}", frame.len());
        let decoded = decode_header(&frame).unwrap();
        assert_eq!(decoded, delta);
        let mut data = old.clone();
        let mut payload = vec![0; span.len()];
        decode_payload(&frame, &mut payload).unwrap();
        xor_into(&mut data[span], &payload);
        assert!(data == new, "the delta did not make the new copy");
        assert_eq!(difference(&old, &old, &mut xor), None);
        // The first and the last byte, in a length that is no multiple of the blocks.
        let mut ends = old.clone();
        ends[0] ^= 1;
        ends[99_999] ^= 1;
        assert_eq!(difference(&old, &ends, &mut xor), Some(0..100_000));
        assert_eq!((xor[0], xor[99_999], xor[50_000]), (1, 1, 0));
    }

    #[test]
    fn malformed_frames_are_refused() {
        assert!(decode_header(b"WSM2").is_err());
        assert!(decode_header(&[0; 64]).is_err());
        let full = header(Kind::Full, 16, 0..16);
        let mut frame = encode(&full, &[3; 16]);
        let mut short = vec![0; 8];
        assert!(decode_payload(&frame, &mut short).is_err());
        // A full frame covers all the data; no span reaches past it.
        let partial = encode(&header(Kind::Full, 16, 0..8), &[3; 8]);
        assert!(decode_header(&partial).unwrap_err().contains("span"));
        let past = encode(&header(Kind::Delta { base: 1 }, 16, 12..20), &[3; 8]);
        assert!(decode_header(&past).unwrap_err().contains("span"));
        frame.truncate(70);
        let mut data = vec![0; 16];
        assert!(decode_payload(&frame, &mut data).is_err());
        frame[4] = 9;
        assert!(decode_header(&frame).unwrap_err().contains("kind"));
    }
}
