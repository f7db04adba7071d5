//! `wsm show` and `wsm watch`: one region's size, counters and bytes, once or as they change.

use std::io::Write;
use std::time::{Duration, Instant};

use win_shared_memory::{ReadOnly, SharedMemory};

use crate::fields::{Change, Fields};
use crate::layout::Layout;

/// An error of the library as a message naming the region and the operation, with its causes.
pub fn describe(name: &str, operation: &str, error: &dyn std::error::Error) -> String {
    let mut message = format!("{operation} `{name}`: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        message += &format!(": {cause}");
        source = cause.source();
    }
    message
}

/// Opens a region to look at it, read-only. On Linux a stale object (which opening would
/// remove, by the crate's rules) is refused instead: `wsm rm` removes it.
pub fn open(name: &str) -> Result<SharedMemory<ReadOnly>, String> {
    #[cfg(target_os = "linux")]
    {
        let object = crate::objects::find(name)?;
        if object.stale() {
            return Err(format!(
                "region `{name}` is stale: nobody holds it, and opening it would remove it \
                 (`wsm rm {name}` does)"
            ));
        }
    }
    SharedMemory::<ReadOnly>::open(name).map_err(|error| describe(name, "opening", &error))
}

/// What `wsm show` shows.
pub struct Show {
    pub name: String,
    pub layout: Layout,
    pub offset: usize,
    pub len: usize,
}

/// Prints the region's size, layout, counters and a hexdump of a range of one consistent copy.
pub fn show(request: &Show, out: &mut dyn Write) -> Result<(), String> {
    let region = open(&request.name)?;
    let layout = request.layout;
    let len = region.len();
    let data_len = layout.data_len_here(&request.name, &region)?;
    // One copy, counters and data together, for the counters' line and the dump (a double
    // buffer's: its sequence and its newest value).
    let mut whole = vec![0; layout.data_offset() + data_len];
    layout
        .snapshot_whole(&region, &mut whole)
        .map_err(|error| describe(&request.name, "copying", &error))?;
    let counters = layout.counters_in(&whole);
    let written = (|| -> std::io::Result<()> {
        writeln!(out, "region    {}", request.name)?;
        writeln!(out, "size      {len} bytes")?;
        writeln!(out, "layout    {}", layout.name())?;
        if let Some(counters) = counters {
            writeln!(out, "counters  {}", counters_text(layout, counters))?;
        }
        #[cfg(target_os = "linux")]
        if let Ok(object) = crate::objects::find(&request.name) {
            writeln!(
                out,
                "owner     {} (mode {:04o}), {} holders including this one",
                object.owner(),
                object.mode,
                object
                    .holders
                    .map_or("?".to_owned(), |count| count.to_string())
            )?;
        }
        let start = request.offset.min(whole.len());
        let end = start.saturating_add(request.len).min(whole.len());
        match layout {
            Layout::DoubleBuffer { .. } => {
                writeln!(
                    out,
                    "bytes     {start}..{end} of the sequence and the newest value"
                )?;
            }
            _ => writeln!(out, "bytes     {start}..{end}")?,
        }
        hexdump(&whole[start..end], start, out)
    })();
    written.map_err(|error| format!("writing the output: {error}"))
}

/// The counters in words.
fn counters_text(layout: Layout, [first, second]: [u32; 2]) -> String {
    match layout {
        Layout::Versioned => {
            let state = if first == second { "idle" } else { "writing" };
            format!("begin {first}, end {second} ({state})")
        }
        _ => {
            let state = if first % 2 == 0 { "idle" } else { "writing" };
            format!("sequence {first} ({} writes, {state})", first / 2)
        }
    }
}

/// The classic 16-bytes-a-line dump, with addresses counted from `base`.
fn hexdump(bytes: &[u8], base: usize, out: &mut dyn Write) -> std::io::Result<()> {
    for (row, chunk) in bytes.chunks(16).enumerate() {
        let mut hex = String::new();
        for (i, byte) in chunk.iter().enumerate() {
            hex += &format!("{byte:02x} ");
            if i == 7 {
                hex.push(' ');
            }
        }
        let text: String = chunk
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        writeln!(out, "{:08x}  {hex:<49} |{text}|", base + row * 16)?;
    }
    Ok(())
}

/// What `wsm watch` watches, and for how long.
pub struct Watch {
    pub name: String,
    pub layout: Layout,
    /// How often to look.
    pub interval: Duration,
    /// How often to report.
    pub report_every: Duration,
    /// How many reports before returning; `None` for until standard output closes.
    pub reports: Option<u64>,
    pub json: bool,
}

/// How many changed fields a report names: the text line the first few, JSON more.
const FIELDS_IN_TEXT: usize = 3;
const FIELDS_IN_JSON: usize = 64;

/// Looks at the region every `interval` and reports, every `report_every`, its update rate,
/// how long ago it last changed and what its last update changed: the fields, with their
/// values before and after, where the layout is known (rFactor 2's telemetry); else the byte
/// ranges and the first changed 8-byte word, as a float where it reads as one.
pub fn watch(request: &Watch, out: &mut dyn Write) -> Result<(), String> {
    let region = open(&request.name)?;
    let layout = request.layout;
    let data_len = layout.data_len_here(&request.name, &region)?;
    let offset = layout.data_offset();
    let mut last = vec![0; data_len];
    let mut now_copy = vec![0; data_len];
    layout
        .snapshot(&region, &mut last)
        .map_err(|error| describe(&request.name, "copying", &error))?;
    let started = Instant::now();
    let mut last_change: Option<Instant> = None;
    let (mut updates, mut total) = (0_u64, 0_u64);
    let mut changed = Vec::<(usize, usize)>::new();
    let mut first_word: Option<(usize, u64, u64)> = None;
    let fields = Fields::of(&request.name, layout == Layout::Versioned, data_len);
    let mut changed_fields = Vec::new();
    let mut refused = 0_u64;
    let mut report_at = started + request.report_every;
    let mut reports = 0;
    loop {
        std::thread::sleep(request.interval);
        match layout.snapshot(&region, &mut now_copy) {
            Ok(()) if now_copy != last => {
                updates += 1;
                total += 1;
                last_change = Some(Instant::now());
                changed = changed_ranges(&last, &now_copy);
                first_word = changed.iter().find_map(|&(start, _)| {
                    let word = start & !7;
                    (word + 8 <= data_len).then(|| {
                        let word_at = |bytes: &[u8]| {
                            u64::from_le_bytes(bytes[word..word + 8].try_into().expect("8 bytes"))
                        };
                        let (before, after) = (word_at(&last), word_at(&now_copy));
                        (word + offset, before, after)
                    })
                });
                if let Some(fields) = &fields {
                    changed_fields = fields.changed(&last, &now_copy, &changed);
                }
                std::mem::swap(&mut last, &mut now_copy);
            }
            Ok(()) => {}
            Err(_) => refused += 1,
        }
        let now = Instant::now();
        if now < report_at {
            continue;
        }
        let window = request.report_every.as_secs_f64();
        let ago = last_change.map(|at| now.duration_since(at).as_millis());
        let changed_bytes: usize = changed.iter().map(|(start, end)| end - start).sum();
        let line = if request.json {
            let fields_json = match fields {
                Some(_) => format!(
                    ",\"changed_field_count\":{},\"changed_fields\":[{}]",
                    changed_fields.len(),
                    changed_fields
                        .iter()
                        .take(FIELDS_IN_JSON)
                        .map(Change::json)
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                None => String::new(),
            };
            format!(
                "{{\"name\":{},\"elapsed_s\":{:.3},\"updates_per_s\":{:.1},\"updates\":{total},\"last_change_ms\":{},\"changed_bytes\":{changed_bytes},\"changed_ranges\":{}{fields_json},\"refused_copies\":{refused}}}",
                crate::json_string(&request.name),
                now.duration_since(started).as_secs_f64(),
                updates as f64 / window,
                ago.map_or("null".to_owned(), |ms| ms.to_string()),
                changed.len(),
            )
        } else {
            let mut line = format!(
                "{:7.1}s  {:6.1} updates/s  {total} in all  last change {}",
                now.duration_since(started).as_secs_f64(),
                updates as f64 / window,
                ago.map_or("never".to_owned(), |ms| format!("{ms} ms ago")),
            );
            if total > 0 {
                line += &format!(
                    "  last update: {changed_bytes} bytes in {} ranges",
                    changed.len()
                );
                if fields.is_some() {
                    let named: Vec<String> = changed_fields
                        .iter()
                        .take(FIELDS_IN_TEXT)
                        .map(Change::text)
                        .collect();
                    line += &format!(", {} fields: {}", changed_fields.len(), named.join("; "));
                    if changed_fields.len() > FIELDS_IN_TEXT {
                        line += "; ...";
                    }
                } else if let Some((at, before, after)) = first_word {
                    line += &format!(", first word at {at:#x}: {}", word_change(before, after));
                }
            }
            if refused > 0 {
                line += &format!("  ({refused} copies refused: a write overlapped)");
            }
            line
        };
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            return Ok(());
        }
        updates = 0;
        reports += 1;
        report_at += request.report_every;
        if request.reports.is_some_and(|count| reports >= count) {
            return Ok(());
        }
    }
}

/// An 8-byte word's change: as doubles when both are normal floating-point numbers (telemetry
/// is mostly doubles), as integers otherwise.
fn word_change(before: u64, after: u64) -> String {
    let (x, y) = (f64::from_bits(before), f64::from_bits(after));
    if x.is_normal() && y.is_normal() {
        format!("{x:.6} -> {y:.6} (f64, {:+.6})", y - x)
    } else {
        format!("{before} -> {after} (u64)")
    }
}

/// The byte ranges where `a` and `b` differ, merging gaps shorter than 8 bytes.
fn changed_ranges(a: &[u8], b: &[u8]) -> Vec<(usize, usize)> {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for (i, _) in a.iter().zip(b).enumerate().filter(|(_, (x, y))| x != y) {
        match ranges.last_mut() {
            Some((_, end)) if i < *end + 8 => *end = i + 1,
            _ => ranges.push((i, i + 1)),
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_ranges_merge_near_changes() {
        let a = [0_u8; 40];
        let mut b = a;
        b[1] = 1;
        b[5] = 1;
        b[30] = 2;
        assert_eq!(changed_ranges(&a, &b), [(1, 6), (30, 31)]);
        assert_eq!(changed_ranges(&a, &a), []);
    }

    #[test]
    fn words_change_as_doubles_or_integers() {
        assert_eq!(word_change(5, 6), "5 -> 6 (u64)");
        let change = word_change(1.5_f64.to_bits(), 1.25_f64.to_bits());
        assert_eq!(change, "1.500000 -> 1.250000 (f64, -0.250000)");
    }

    #[test]
    fn hexdump_lines() {
        let mut out = Vec::new();
        hexdump(b"ABCDEFGHIJKLMNOPQ", 16, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("00000010  41 42 43 44 45 46 47 48  49 4a"));
        assert!(lines[0].ends_with("|ABCDEFGHIJKLMNOP|"));
        assert!(lines[1].starts_with("00000020  51 "), "{}", lines[1]);
    }
}
