//! What the mirror sends for a region: a full copy of its data, the change since the previous
//! copy, or word that it is gone; compressed, in one Zenoh sample.
//!
//! A frame is a 48-byte header, then the payload: the data (a full frame) or the bytewise XOR
//! of the data with the previous frame's (a delta, mostly zeros), LZ4-compressed. The header
//! (little-endian): `WSM1`, the kind, the layout, 2 bytes zero, the publisher's instance (so a
//! restarted publisher's frames are not taken as the old one's deltas), the frame's number, the
//! number of the frame a delta applies to, the region's size, and the data's length.

const MAGIC: &[u8; 4] = b"WSM1";
const HEADER: usize = 48;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The whole data.
    Full,
    /// The XOR of the data with frame `base`'s.
    Delta { base: u64 },
    /// The region is gone at the source.
    Gone,
}

/// A decoded frame's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    pub layout: u8,
    pub instance: u64,
    pub number: u64,
    /// The region's size at the source.
    pub region_len: u64,
    /// The data's length, uncompressed.
    pub data_len: u64,
}

/// Encodes a frame of `kind` for `data` (for a delta, the XOR already taken), compressed.
pub fn encode(header: &Header, data: &[u8]) -> Vec<u8> {
    let compressed = lz4_flex::block::compress(data);
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
    ] {
        frame.extend_from_slice(&word.to_le_bytes());
    }
    frame.extend_from_slice(&compressed);
    frame
}

/// Decodes a frame's header and decompresses its payload into `data`, which must be the
/// length the header gives (the caller checks it against the region first). Refuses anything
/// malformed: a subscriber takes frames from the network.
pub fn decode_header(frame: &[u8]) -> Result<Header, String> {
    if frame.len() < HEADER || &frame[..4] != MAGIC {
        return Err("not a wsm mirror frame".to_owned());
    }
    let word = |at: usize| u64::from_le_bytes(frame[at..at + 8].try_into().expect("8 bytes"));
    let kind = match frame[4] {
        0 => Kind::Full,
        1 => Kind::Delta { base: word(24) },
        2 => Kind::Gone,
        other => return Err(format!("unknown frame kind {other}")),
    };
    Ok(Header {
        kind,
        layout: frame[5],
        instance: word(8),
        number: word(16),
        region_len: word(32),
        data_len: word(40),
    })
}

/// Decompresses the payload of `frame` into `data` (exactly the header's data length).
pub fn decode_payload(frame: &[u8], data: &mut [u8]) -> Result<(), String> {
    let payload = frame.get(HEADER..).ok_or("a truncated frame")?;
    match lz4_flex::block::decompress_into(payload, data) {
        Ok(len) if len == data.len() => Ok(()),
        Ok(len) => Err(format!(
            "a frame of {len} bytes where {} were due",
            data.len()
        )),
        Err(error) => Err(format!("a corrupt frame: {error}")),
    }
}

/// `target[i] ^= source[i]`: makes a delta from two copies, or applies one to a copy.
pub fn xor_into(target: &mut [u8], source: &[u8]) {
    // By words: the compiler vectorises it, and 240 KB take microseconds.
    let mut targets = target.chunks_exact_mut(8);
    let mut sources = source.chunks_exact(8);
    for (t, s) in (&mut targets).zip(&mut sources) {
        let word =
            u64::from_ne_bytes(t.try_into().unwrap()) ^ u64::from_ne_bytes(s.try_into().unwrap());
        t.copy_from_slice(&word.to_ne_bytes());
    }
    for (t, s) in targets.into_remainder().iter_mut().zip(sources.remainder()) {
        *t ^= s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: Kind, data_len: u64) -> Header {
        Header {
            kind,
            layout: 1,
            instance: 7,
            number: 9,
            region_len: data_len + 8,
            data_len,
        }
    }

    #[test]
    fn a_delta_round_trips_and_is_small() {
        let old: Vec<u8> = (0..100_000_u32).map(|i| (i % 251) as u8).collect();
        let mut new = old.clone();
        new[500] ^= 0x55;
        new[99_999] = 1;
        let mut delta = new.clone();
        xor_into(&mut delta, &old);
        let frame = encode(&header(Kind::Delta { base: 8 }, 100_000), &delta);
        assert!(frame.len() < 1_000, "{}", frame.len());
        let decoded = decode_header(&frame).unwrap();
        assert_eq!(decoded, header(Kind::Delta { base: 8 }, 100_000));
        let mut data = vec![0; 100_000];
        decode_payload(&frame, &mut data).unwrap();
        xor_into(&mut data, &old);
        assert_eq!(data, new);
    }

    #[test]
    fn malformed_frames_are_refused() {
        assert!(decode_header(b"WSM1").is_err());
        assert!(decode_header(&[0; 64]).is_err());
        let mut frame = encode(&header(Kind::Full, 16), &[3; 16]);
        let mut short = vec![0; 8];
        assert!(decode_payload(&frame, &mut short).is_err());
        frame.truncate(50);
        let mut data = vec![0; 16];
        assert!(decode_payload(&frame, &mut data).is_err());
        frame[4] = 9;
        assert!(decode_header(&frame).unwrap_err().contains("kind"));
    }
}
