//! `wsm mirror`: live regions copied to other machines over Zenoh.
//!
//! The publisher polls each region's counters, at the pace of its writer (see `pace`); when
//! they moved, it takes a consistent copy
//! with the region's own protocol and sends what changed since its previous copy (see
//! `frame`), and every `full_every` a full copy instead, while the region changes. It also
//! answers queries for a region's current full copy, which a subscriber makes when it starts
//! and whenever it missed a frame (a link that went down, a publisher that restarted). The
//! subscriber creates each region under the same name and size and writes every copy into it
//! with the same protocol, so that readers there never see a torn value.
//!
//! Key expressions are `<prefix>/<hex of the name>`: region names hold characters (`$`, `*`)
//! that mean something in a key expression.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use win_shared_memory::{ReadOnly, ReadWrite, SharedMemory};
use zenoh::Wait;

use crate::frame::{self, Header, Kind};
use crate::inspect::describe;
use crate::layout::Layout;
use crate::pace::{FINE, Pace, Seen};

/// The mirror's options, from the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// `publish` or `subscribe`.
    pub publish: bool,
    /// Zenoh endpoints to listen on (the publisher's `--listen`).
    pub listen: Vec<String>,
    /// Zenoh endpoints to connect to (the subscriber's `--connect`).
    pub connect: Vec<String>,
    /// A Zenoh configuration file (TLS certificates, say), read before the options above.
    pub config: Option<PathBuf>,
    /// Multicast scouting on: off unless asked for.
    pub scouting: bool,
    /// The key expression prefix of the regions.
    pub prefix: String,
    /// How often the publisher looks at every region's counters (the coarse looks of `pace`).
    pub poll: Duration,
    /// How often, at most, a changing region is sent whole rather than as a delta.
    pub full_every: Duration,
    /// The largest region a subscriber creates for a publisher.
    pub max_size: usize,
    /// How often the frames and bytes a second are said on standard error; `None`: never.
    pub rates_every: Option<Duration>,
    /// The regions and their layouts.
    pub regions: Vec<(String, Layout)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            publish: true,
            listen: Vec::new(),
            connect: Vec::new(),
            config: None,
            scouting: false,
            prefix: "wsm/region".to_owned(),
            poll: Duration::from_millis(1),
            full_every: Duration::from_secs(1),
            max_size: 256 << 20,
            rates_every: Some(Duration::from_secs(10)),
            regions: Vec::new(),
        }
    }
}

/// The Zenoh configuration: the file's, then peer mode, exactly the endpoints given (a
/// subscriber listens on none), no multicast scouting unless asked, no gossip (peers are the
/// endpoints given), and a short lease with fast reconnection, so that a link that went down
/// is noticed and a subscriber is current again soon after it comes back.
fn zenoh_config(options: &Options) -> Result<zenoh::Config, String> {
    let mut config = match &options.config {
        Some(path) => zenoh::Config::from_file(path)
            .map_err(|error| format!("reading Zenoh configuration {}: {error}", path.display()))?,
        None => zenoh::Config::default(),
    };
    let list = |endpoints: &[String]| {
        let quoted: Vec<String> = endpoints.iter().map(|e| crate::json_string(e)).collect();
        format!("[{}]", quoted.join(","))
    };
    let mut settings = vec![
        ("mode", "\"peer\"".to_owned()),
        ("scouting/multicast/enabled", options.scouting.to_string()),
        ("scouting/gossip/enabled", "false".to_owned()),
        ("transport/link/tx/lease", "2000".to_owned()),
        ("connect/timeout_ms", "{peer: -1}".to_owned()),
        ("connect/exit_on_failure", "{peer: false}".to_owned()),
        (
            "connect/retry",
            "{period_init_ms: 100, period_max_ms: 500, period_increase_factor: 1.5}".to_owned(),
        ),
    ];
    if options.config.is_none() || !options.listen.is_empty() || !options.publish {
        settings.push(("listen/endpoints", list(&options.listen)));
    }
    if options.config.is_none() || !options.connect.is_empty() {
        settings.push(("connect/endpoints", list(&options.connect)));
    }
    for (key, value) in settings {
        config
            .insert_json5(key, &value)
            .map_err(|error| format!("Zenoh configuration {key} = {value}: {error}"))?;
    }
    Ok(config)
}

/// The key expression of a region: `Local\x` and `x` are one region (on Windows too), so
/// one key, whichever form each side was given.
fn key_of(prefix: &str, name: &str) -> String {
    let object = crate::object_name(name);
    let hex: String = object.bytes().map(|byte| format!("{byte:02x}")).collect();
    format!("{prefix}/{hex}")
}

/// Set when standard input closes: the mirror's signal to stop.
fn stop_at_end_of_input() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    std::thread::spawn(move || {
        let mut sink = [0; 256];
        let mut input = std::io::stdin();
        while matches!(input.read(&mut sink), Ok(n) if n > 0) {}
        flag.store(true, Ordering::Relaxed);
    });
    stop
}

/// Prints `line` on standard output at once (the tests and scripts wait for it).
fn say(line: &str) {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// Runs the publisher or the subscriber until standard input closes.
pub fn run(options: &Options) -> Result<(), String> {
    let stop = stop_at_end_of_input();
    let session = zenoh::open(zenoh_config(options)?)
        .wait()
        .map_err(|error| format!("opening the Zenoh session: {error}"))?;
    let result = if options.publish {
        publish(options, &session, &stop)
    } else {
        subscribe(options, &session, &stop)
    };
    let _ = session.close().wait();
    result
}

/// Frames counted so far: all, whole ones, and their bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    frames: u64,
    full: u64,
    bytes: u64,
}

impl Tally {
    fn count(&mut self, full: bool, bytes: usize) {
        self.frames += 1;
        self.full += u64::from(full);
        self.bytes += bytes as u64;
    }
}

impl std::iter::Sum for Tally {
    fn sum<I: Iterator<Item = Self>>(tallies: I) -> Self {
        tallies.fold(Self::default(), |sum, tally| Self {
            frames: sum.frames + tally.frames,
            full: sum.full + tally.full,
            bytes: sum.bytes + tally.bytes,
        })
    }
}

/// The live rates of a long-running mirror: every `every`, the frames and bytes a second since
/// the last report, on standard error.
struct Rates {
    every: Option<Duration>,
    verb: &'static str,
    since: Instant,
    last: Tally,
}

impl Rates {
    fn new(every: Option<Duration>, verb: &'static str) -> Self {
        Self {
            every,
            verb,
            since: Instant::now(),
            last: Tally::default(),
        }
    }

    /// Says the rates if a report is due, from the totals `now_tally` gives.
    fn say_if_due(&mut self, now: Instant, now_tally: impl FnOnce() -> Tally) {
        let Some(every) = self.every else { return };
        let elapsed = now.saturating_duration_since(self.since);
        if elapsed < every {
            return;
        }
        let tally = now_tally();
        crate::complain(&self.line(elapsed, tally));
        self.since = now;
        self.last = tally;
    }

    /// `12.0 frames/s sent (1.0 whole), 4.6 kB/s` over `elapsed`, up to `tally`.
    fn line(&self, elapsed: Duration, tally: Tally) -> String {
        let seconds = elapsed.as_secs_f64().max(1e-3);
        let rate = |now: u64, before: u64| now.saturating_sub(before) as f64 / seconds;
        format!(
            "{:.1} frames/s {} ({:.1} whole), {:.1} kB/s; {} frames in all",
            rate(tally.frames, self.last.frames),
            self.verb,
            rate(tally.full, self.last.full),
            rate(tally.bytes, self.last.bytes) / 1e3,
            tally.frames
        )
    }
}

/// One region at the source.
struct Source<'a> {
    name: String,
    layout: Layout,
    key: String,
    publisher: zenoh::pubsub::Publisher<'a>,
    region: Option<SharedMemory<ReadOnly>>,
    /// The previous copy's data, the new one's, and the XOR of the two.
    last: Vec<u8>,
    next: Vec<u8>,
    xor: Vec<u8>,
    counters: Option<[u32; 2]>,
    /// Whether `last` holds a consistent copy of the region (sent whole).
    has_copy: bool,
    /// Whether a subscriber asked for a full frame: the next change is sent whole, in order
    /// with the deltas after it (the query's own reply may arrive after newer deltas).
    full_asked: bool,
    number: u64,
    last_full: Instant,
    /// When to look for the region again, while it is missing.
    retry_at: Instant,
    /// When to check again that a writer still holds it (Linux).
    check_at: Instant,
    /// Its writer's pace, and the look it asks for before the next coarse one.
    pace: Pace,
    look_at: Option<Instant>,
    /// What it sent so far.
    sent: Tally,
}

impl Source<'_> {
    /// The header of a frame of this publisher `instance` (a full frame's span is all the
    /// data, a delta's the span that changed).
    fn header(&self, instance: u64, kind: Kind, span: Range<usize>) -> Header {
        Header {
            kind,
            layout: self.layout.code(),
            instance,
            number: self.number,
            region_len: self.region.as_ref().map_or(0, |r| r.len() as u64),
            data_len: self.last.len() as u64,
            span: span.start as u64..span.end as u64,
        }
    }

    /// Opens the region if it is there (its first copy goes at the first poll that gets a
    /// consistent one); `Ok(false)` while it is missing.
    fn open(&mut self) -> Result<bool, String> {
        let region = match SharedMemory::<ReadOnly>::open(&self.name) {
            Ok(region) => region,
            Err(error) if error.is_not_found() => return Ok(false),
            Err(error) => return Err(describe(&self.name, "opening", &error)),
        };
        let data_len = self.layout.data_len_here(&self.name, &region)?;
        self.last = vec![0; data_len];
        self.next = vec![0; data_len];
        self.xor = vec![0; data_len];
        self.counters = None;
        self.has_copy = false;
        self.region = Some(region);
        Ok(true)
    }

    /// Sends a frame: `Full` of `last`, `Delta` of `xor` over `span`, or `Gone`.
    fn send(&mut self, instance: u64, kind: Kind, span: Range<usize>) -> Result<(), String> {
        let header = self.header(instance, kind, span.clone());
        let payload = match kind {
            Kind::Full => frame::encode(&header, &self.last),
            Kind::Delta { .. } => frame::encode(&header, &self.xor[span]),
            Kind::Gone => frame::encode(&header, &[]),
        };
        if kind == Kind::Full {
            self.last_full = Instant::now();
        }
        self.sent.count(kind == Kind::Full, payload.len());
        self.publisher
            .put(payload)
            .wait()
            .map_err(|error| format!("sending `{}`: {error}", self.name))
    }

    /// Looks at the region; sends what changed, if anything did.
    fn poll(&mut self, instance: u64, full_every: Duration) -> Result<Seen, String> {
        let Some(region) = &self.region else {
            return Ok(Seen::Nothing);
        };
        let counters = self.layout.counters(region);
        let whole = 0..self.last.len();
        if !self.has_copy {
            // The first copy goes whole, once one comes out consistent (a writer mid-update
            // refuses it: the next poll tries again).
            if self.layout.snapshot(region, &mut self.last).is_err() {
                return Ok(Seen::Writing);
            }
            self.has_copy = true;
            self.counters = counters;
            self.number += 1;
            self.send(instance, Kind::Full, whole)?;
            return Ok(Seen::Change);
        }
        if counters.is_some() && counters == self.counters {
            return Ok(Seen::Nothing);
        }
        if self.layout.snapshot(region, &mut self.next).is_err() {
            // A writer mid-update: the next poll looks again.
            return Ok(Seen::Writing);
        }
        self.counters = counters;
        let Some(span) = frame::difference(&self.last, &self.next, &mut self.xor) else {
            // Counters that moved with no change of the data.
            return Ok(Seen::Nothing);
        };
        self.number += 1;
        std::mem::swap(&mut self.last, &mut self.next);
        if self.full_asked || self.last_full.elapsed() >= full_every {
            self.full_asked = false;
            self.send(instance, Kind::Full, whole)?;
            return Ok(Seen::Change);
        }
        let base = self.number - 1;
        self.send(instance, Kind::Delta { base }, span)?;
        Ok(Seen::Change)
    }

    /// Whether the region's writer left: nobody but this process holds it (Linux, the
    /// crate's own objects only; elsewhere the region is kept).
    fn abandoned(&self) -> bool {
        #[cfg(target_os = "linux")]
        if let Ok(object) = crate::objects::find(&self.name) {
            return object.marked && object.holders == Some(1);
        }
        false
    }
}

/// A random-enough instance number: the time and the process id.
fn instance_number() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 40)
}

fn publish(options: &Options, session: &zenoh::Session, stop: &AtomicBool) -> Result<(), String> {
    let instance = instance_number();
    let mut sources = Vec::new();
    for (name, layout) in &options.regions {
        let key = key_of(&options.prefix, name);
        let publisher = session
            .declare_publisher(key.clone())
            .wait()
            .map_err(|error| format!("declaring the publisher of `{name}`: {error}"))?;
        sources.push(Source {
            name: name.clone(),
            layout: *layout,
            key,
            publisher,
            region: None,
            last: Vec::new(),
            next: Vec::new(),
            xor: Vec::new(),
            counters: None,
            has_copy: false,
            full_asked: false,
            number: 0,
            last_full: Instant::now(),
            retry_at: Instant::now(),
            check_at: Instant::now(),
            pace: Pace::default(),
            look_at: None,
            sent: Tally::default(),
        });
    }
    let queries = session
        .declare_queryable(format!("{}/*", options.prefix))
        .wait()
        .map_err(|error| format!("declaring the queryable: {error}"))?;
    say("ready");
    let mut tick = Instant::now();
    let mut rates = Rates::new(options.rates_every, "sent");
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        rates.say_if_due(now, || sources.iter().map(|source| source.sent).sum());
        // Every region's coarse look, on one schedule (within half a fine period: looks that
        // close are taken at one wake-up).
        let coarse = now + FINE / 2 >= tick;
        if coarse {
            tick = (tick + options.poll).max(now + options.poll / 2);
        }
        for source in &mut sources {
            if source.region.is_none() {
                if now < source.retry_at {
                    continue;
                }
                source.retry_at = now + Duration::from_millis(100);
                if !source.open()? {
                    continue;
                }
                crate::complain(&format!("publishing `{}`", source.name));
                source.look_at = Some(now);
            } else if now >= source.check_at {
                source.check_at = now + Duration::from_millis(500);
                if source.abandoned() {
                    // Dropping the last hold removes a stale object, as the crate's rules say.
                    source.region = None;
                    source.number += 1;
                    source.send(instance, Kind::Gone, 0..0)?;
                    crate::complain(&format!("`{}` is gone: its writer left", source.name));
                    continue;
                }
            }
            if coarse || source.look_at.is_some_and(|at| now + FINE / 2 >= at) {
                let seen = source.poll(instance, options.full_every)?;
                source.look_at = source.pace.next_look(now, seen);
            }
        }
        while let Ok(Some(query)) = queries.try_recv() {
            let asked = query.key_expr().as_str().to_owned();
            if let Some(source) = sources
                .iter_mut()
                .find(|s| s.key == asked && s.region.is_some() && s.has_copy)
            {
                source.full_asked = true;
                let header = source.header(instance, Kind::Full, 0..source.last.len());
                let _ = query
                    .reply(asked, frame::encode(&header, &source.last))
                    .wait();
            }
        }
        // Until the next look that is due, a coarse period at most: queries, missing regions
        // and the end of input wait for no longer.
        let next = sources
            .iter()
            .filter(|source| source.region.is_some())
            .filter_map(|source| source.look_at)
            .chain([tick])
            .min()
            .unwrap_or(tick);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    // The regions are not gone, only this publisher: the subscribers keep their copies and
    // follow the next publisher's frames.
    Ok(())
}

/// One region's copy on the subscriber's side.
struct Copy {
    name: String,
    layout: Layout,
    region: Option<SharedMemory<ReadWrite>>,
    data: Vec<u8>,
    scratch: Vec<u8>,
    /// The publisher instance and frame number of `data`, once it holds one.
    applied: Option<(u64, u64)>,
    /// When the copy last asked the publisher for a full frame.
    asked_at: Option<Instant>,
    /// Why the last frame was refused (a layout or size that does not fit), said once.
    refused: Option<String>,
    /// The frames it applied so far.
    applied_frames: Tally,
}

impl Copy {
    fn new(name: &str, layout: Layout) -> Self {
        Self {
            name: name.to_owned(),
            layout,
            region: None,
            data: Vec::new(),
            scratch: Vec::new(),
            applied: None,
            asked_at: None,
            refused: None,
            applied_frames: Tally::default(),
        }
    }

    /// Takes a frame as [`Copy::take`] does, and gives what to say of it, if anything: a
    /// refusal once (every frame of a publisher whose layout or size does not fit is refused,
    /// 100 times a second perhaps), a first frame taken after refusals, a missed frame.
    fn receive(&mut self, sample: &[u8], max_size: usize) -> Option<String> {
        let before = self.applied;
        match self.take(sample, max_size) {
            // Written (a stale frame, or a Gone, is taken without a write).
            Ok(true) if self.applied.is_some() && self.applied != before => self
                .refused
                .take()
                .map(|_| format!("`{}`: the publisher's frames fit again", self.name)),
            Ok(true) => None,
            // A missed frame: the subscriber's loop asks for a full one.
            Ok(false) => self
                .applied
                .take()
                .map(|_| format!("`{}`: a frame was missed; asking for a full one", self.name)),
            Err(message) if self.refused.as_ref() == Some(&message) => None,
            Err(message) => {
                self.refused = Some(message.clone());
                Some(format!(
                    "{message} (said once; the frames are refused until they fit)"
                ))
            }
        }
    }

    /// Takes a frame: writes its data into the region; `Ok(false)` when it cannot be applied
    /// (a delta whose base this copy does not hold) and a full frame is needed.
    fn take(&mut self, sample: &[u8], max_size: usize) -> Result<bool, String> {
        let header = frame::decode_header(sample)
            .map_err(|error| format!("a frame for `{}`: {error}", self.name))?;
        if header.layout != self.layout.code() {
            return Err(format!(
                "`{}` is published with another layout than {} (code {})",
                self.name,
                self.layout.name(),
                header.layout
            ));
        }
        match header.kind {
            Kind::Gone => {
                if self.region.take().is_some() {
                    crate::complain(&format!("`{}` is gone at the source", self.name));
                    say(&format!("gone {}", self.name));
                }
                self.applied = None;
                return Ok(true);
            }
            // Older than what the region holds (a query's reply that came after newer
            // frames): never written back.
            _ if self.applied.is_some_and(|(instance, number)| {
                instance == header.instance && header.number <= number
            }) =>
            {
                return Ok(true);
            }
            Kind::Delta { base } if self.applied != Some((header.instance, base)) => {
                return Ok(false);
            }
            Kind::Delta { .. } | Kind::Full => {}
        }
        let region_len = usize::try_from(header.region_len)
            .ok()
            .filter(|&len| len <= max_size)
            .ok_or_else(|| {
                format!(
                    "`{}` is {} bytes at the source, more than --max-size {max_size}",
                    self.name, header.region_len
                )
            })?;
        let data_len = self.layout.data_len(&self.name, region_len)?;
        if header.data_len != data_len as u64 {
            return Err(format!(
                "`{}`: the publisher's frames hold {} bytes of data, where {} of {region_len} \
                 bytes holds {data_len} here: give both sides the same layout",
                self.name,
                header.data_len,
                self.layout.name()
            ));
        }
        let region = match &mut self.region {
            Some(region) if fits(region.len(), region_len) => region,
            _ => {
                // A region of another size (the source's changed): a new one.
                self.region = None;
                let region = SharedMemory::<ReadWrite>::get_or_create(&self.name, region_len)
                    .map_err(|error| describe(&self.name, "creating", &error))?;
                if !fits(region.len(), region_len) {
                    return Err(format!(
                        "`{}` exists here with {} bytes, the source's has {region_len}",
                        self.name,
                        region.len()
                    ));
                }
                self.data = vec![0; data_len];
                self.applied = None;
                self.region.insert(region)
            }
        };
        // Decoded aside first: a corrupt frame leaves the copy as it was.
        let span = header.span.start as usize..header.span.end as usize;
        self.scratch.resize(span.len(), 0);
        frame::decode_payload(sample, &mut self.scratch)
            .map_err(|error| format!("a frame for `{}`: {error}", self.name))?;
        if header.kind == Kind::Full {
            std::mem::swap(&mut self.data, &mut self.scratch);
        } else {
            frame::xor_into(&mut self.data[span.clone()], &self.scratch);
        }
        // Only the span changed: only the span is written, under the layout's counters.
        self.layout
            .publish(region, &self.data, span)
            .map_err(|error| describe(&self.name, "writing", &error))?;
        self.applied = Some((header.instance, header.number));
        self.applied_frames
            .count(header.kind == Kind::Full, sample.len());
        Ok(true)
    }
}

/// Whether a region of this machine of `len` bytes is the copy of a source's of
/// `source_len`: the same length, or on Windows that length rounded up to whole pages (what
/// opening a section that exists reads under Wine and Proton).
fn fits(len: usize, source_len: usize) -> bool {
    const PAGE: usize = 4096;
    len == source_len || (cfg!(windows) && len == source_len.next_multiple_of(PAGE))
}

/// The subscriber's copies, by key: written from Zenoh's receiving thread as each frame
/// arrives (no hand-over to another thread on the way to the readers), and looked at by the
/// subscriber's loop.
type Copies = Mutex<HashMap<String, Copy>>;

/// Writes a frame into its copy, if it is for one.
fn take_sample(copies: &Copies, sample: &zenoh::sample::Sample, max_size: usize) {
    let mut copies = copies.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(copy) = copies.get_mut(sample.key_expr().as_str()) else {
        return;
    };
    if let Some(message) = copy.receive(&sample.payload().to_bytes(), max_size) {
        crate::complain(&message);
    }
}

fn subscribe(options: &Options, session: &zenoh::Session, stop: &AtomicBool) -> Result<(), String> {
    let copies: Arc<Copies> = Arc::new(Mutex::new(
        options
            .regions
            .iter()
            .map(|(name, layout)| (key_of(&options.prefix, name), Copy::new(name, *layout)))
            .collect(),
    ));
    let max_size = options.max_size;
    let _subscriber = session
        .declare_subscriber(format!("{}/*", options.prefix))
        .callback({
            let copies = Arc::clone(&copies);
            move |sample| take_sample(&copies, &sample, max_size)
        })
        .wait()
        .map_err(|error| format!("declaring the subscriber: {error}"))?;
    let mut ready = false;
    let mut rates = Rates::new(options.rates_every, "applied");
    while !stop.load(Ordering::Relaxed) {
        rates.say_if_due(Instant::now(), || {
            let copies = copies.lock().unwrap_or_else(PoisonError::into_inner);
            copies.values().map(|copy| copy.applied_frames).sum()
        });
        // Ask for a full frame where one is needed, at most every 200 ms per region (outside
        // the lock: the replies take it).
        let mut wanted = Vec::new();
        {
            let mut copies = copies.lock().unwrap_or_else(PoisonError::into_inner);
            for (key, copy) in copies.iter_mut() {
                if copy.applied.is_none()
                    && copy
                        .asked_at
                        .is_none_or(|at| at.elapsed() >= Duration::from_millis(200))
                {
                    copy.asked_at = Some(Instant::now());
                    wanted.push((key.clone(), copy.name.clone()));
                }
            }
            if !ready && copies.values().all(|copy| copy.applied.is_some()) {
                ready = true;
                say("ready");
            }
        }
        for (key, name) in wanted {
            let copies = Arc::clone(&copies);
            let asked = session
                .get(key.as_str())
                .timeout(Duration::from_millis(500))
                .callback(move |reply| {
                    if let Ok(sample) = reply.result() {
                        take_sample(&copies, sample, max_size);
                    }
                })
                .wait();
            if let Err(error) = asked {
                crate::complain(&format!("asking for `{name}`: {error}"));
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame for a 16-byte versioned region (8 bytes of data): `kind`, number `number`.
    fn frame_of(kind: Kind, number: u64, data: &[u8; 8]) -> Vec<u8> {
        let header = Header {
            kind,
            layout: Layout::Versioned.code(),
            instance: 42,
            number,
            region_len: 16,
            data_len: 8,
            span: 0..if kind == Kind::Gone { 0 } else { 8 },
        };
        let data = if kind == Kind::Gone {
            &[][..]
        } else {
            &data[..]
        };
        frame::encode(&header, data)
    }

    #[test]
    fn frames_apply_in_order_and_old_or_unrooted_ones_do_not() {
        let name = format!("wsm_mirror_unit_{}", std::process::id());
        let mut copy = Copy::new(&name, Layout::Versioned);
        let value = |copy: &Copy| -> [u8; 8] {
            let mut data = [0; 8];
            Layout::Versioned
                .snapshot(copy.region.as_ref().unwrap(), &mut data)
                .unwrap();
            data
        };
        // A delta before any full frame has nothing to apply to.
        assert_eq!(
            copy.take(&frame_of(Kind::Delta { base: 0 }, 1, &[1; 8]), 1 << 20),
            Ok(false)
        );
        assert!(copy.region.is_none());
        assert_eq!(
            copy.take(&frame_of(Kind::Full, 1, &[5; 8]), 1 << 20),
            Ok(true)
        );
        assert_eq!(value(&copy), [5; 8]);
        // Frame 2 is frame 1 XOR the delta.
        assert_eq!(
            copy.take(&frame_of(Kind::Delta { base: 1 }, 2, &[3; 8]), 1 << 20),
            Ok(true)
        );
        assert_eq!(value(&copy), [6; 8]);
        // A reply holding frame 1 that arrives late is not written back.
        assert_eq!(
            copy.take(&frame_of(Kind::Full, 1, &[5; 8]), 1 << 20),
            Ok(true)
        );
        assert_eq!(value(&copy), [6; 8]);
        // A delta on a frame this copy missed asks for a full one, and leaves the region.
        assert_eq!(
            copy.take(&frame_of(Kind::Delta { base: 3 }, 4, &[1; 8]), 1 << 20),
            Ok(false)
        );
        assert_eq!(value(&copy), [6; 8]);
        // Too large a region is refused before anything is created.
        let mut big = frame_of(Kind::Full, 9, &[0; 8]);
        big[32..40].copy_from_slice(&(2_u64 << 20).to_le_bytes());
        assert!(copy.take(&big, 1 << 20).unwrap_err().contains("--max-size"));
        assert_eq!(
            copy.take(&frame_of(Kind::Gone, 10, &[0; 8]), 1 << 20),
            Ok(true)
        );
        assert!(copy.region.is_none());
        assert!(
            SharedMemory::<ReadOnly>::open(&name).is_err(),
            "the copy stayed"
        );
    }

    #[test]
    fn a_refusal_is_said_once_and_its_end_too() {
        let name = format!("wsm_mirror_refusal_{}", std::process::id());
        let mut copy = Copy::new(&name, Layout::Raw);
        let versioned = frame_of(Kind::Full, 1, &[5; 8]);
        let said = copy
            .receive(&versioned, 1 << 20)
            .expect("a refusal is said");
        assert!(said.contains("another layout"), "{said}");
        for _ in 0..100 {
            assert_eq!(copy.receive(&versioned, 1 << 20), None);
        }
        // The publisher restarts with the layout this side was given.
        copy.layout = Layout::Versioned;
        let said = copy.receive(&frame_of(Kind::Full, 2, &[6; 8]), 1 << 20);
        assert!(said.is_some_and(|said| said.contains("fit again")));
        assert_eq!(
            copy.receive(&frame_of(Kind::Full, 3, &[7; 8]), 1 << 20),
            None
        );
        // Refused again; a late frame older than the copy's is no sign that frames fit.
        let mut other = frame_of(Kind::Full, 4, &[8; 8]);
        // The layout's byte, after the magic and the kind.
        other[frame::MAGIC.len() + 1] = Layout::Raw.code();
        assert!(copy.receive(&other, 1 << 20).is_some());
        assert_eq!(
            copy.receive(&frame_of(Kind::Full, 2, &[6; 8]), 1 << 20),
            None
        );
        assert_eq!(copy.receive(&other, 1 << 20), None);
        let said = copy.receive(&frame_of(Kind::Full, 4, &[8; 8]), 1 << 20);
        assert!(said.is_some_and(|said| said.contains("fit again")));
        // A missed frame is said once too.
        let missed = frame_of(Kind::Delta { base: 9 }, 10, &[1; 8]);
        assert!(
            copy.receive(&missed, 1 << 20)
                .is_some_and(|said| said.contains("missed"))
        );
        assert_eq!(copy.receive(&missed, 1 << 20), None);
        assert_eq!(
            copy.receive(&frame_of(Kind::Gone, 11, &[0; 8]), 1 << 20),
            None
        );
    }

    #[test]
    fn rates_are_per_second_since_the_last_report() {
        let mut rates = Rates::new(Some(Duration::from_secs(10)), "sent");
        let mut tally = Tally::default();
        for frame in 0..100 {
            tally.count(frame % 50 == 0, 1000);
        }
        assert_eq!(
            rates.line(Duration::from_secs(10), tally),
            "10.0 frames/s sent (0.2 whole), 10.0 kB/s; 100 frames in all"
        );
        rates.last = tally;
        tally.count(false, 500);
        assert_eq!(
            rates.line(Duration::from_secs(1), tally),
            "1.0 frames/s sent (0.0 whole), 0.5 kB/s; 101 frames in all"
        );
        // Never, when not asked for: the totals are not even taken.
        let mut never = Rates::new(None, "sent");
        never.say_if_due(Instant::now() + Duration::from_secs(60), || unreachable!());
    }

    #[test]
    fn keys_are_hex_of_the_name() {
        assert_eq!(key_of("wsm/region", "$a*"), "wsm/region/24612a");
        assert_eq!(key_of("p", "Local\\ab"), key_of("p", "ab"));
    }

    #[test]
    fn the_configuration_has_no_multicast_and_only_the_endpoints_given() {
        let options = Options {
            publish: false,
            connect: vec!["tcp/127.0.0.1:7447".into()],
            ..Options::default()
        };
        let config = zenoh_config(&options).unwrap();
        let get = |key: &str| config.get_json(key).unwrap();
        assert_eq!(get("scouting/multicast/enabled"), "false");
        assert_eq!(get("scouting/gossip/enabled"), "false");
        assert_eq!(get("listen/endpoints"), "[]");
        assert!(get("connect/endpoints").contains("tcp/127.0.0.1:7447"));
        let scouting = Options {
            scouting: true,
            ..options
        };
        let config = zenoh_config(&scouting).unwrap();
        assert_eq!(
            config.get_json("scouting/multicast/enabled").unwrap(),
            "true"
        );
    }
}
