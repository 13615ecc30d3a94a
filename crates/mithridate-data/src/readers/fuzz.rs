//! A deterministic mutation fuzzer for the readers (no coverage guidance; the
//! coverage-guided runs are the cargo-fuzz project `fuzz/`, whose smoke test in
//! `crates/mithridate-fuzz` reuses [`mutate`]). Each input is a valid seed
//! with 1-8 stacked mutations drawn from a seeded ChaCha RNG: bit flips, "interesting"
//! bytes (delimiters, quotes, brackets, 0x00/0xff), random insertions and deletions,
//! truncation, duplicated ranges, splices of two seeds, huge or non-finite numbers,
//! invalid UTF-8 and deep nesting; PNG inputs get their chunk CRCs recomputed half the time
//! so mutations reach the decoder instead of dying at the checksum. Every input runs under
//! `catch_unwind`; a panic is a finding (the input is kept in the report).
//!
//! `examples/fuzz_readers.rs` runs it at scale; a small run is part of the test suite.

use super::{csv, image_folder, jsonl, ReadLimits, ReadOptions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// The parsers the fuzzer drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Csv,
    Jsonl,
    Png,
    Jpeg,
    #[cfg(feature = "parquet")]
    Parquet,
}

impl Target {
    pub fn all() -> Vec<Target> {
        vec![
            Target::Csv,
            Target::Jsonl,
            Target::Png,
            Target::Jpeg,
            #[cfg(feature = "parquet")]
            Target::Parquet,
        ]
    }

    pub fn name(self) -> &'static str {
        match self {
            Target::Csv => "csv",
            Target::Jsonl => "jsonl",
            Target::Png => "png",
            Target::Jpeg => "jpeg",
            #[cfg(feature = "parquet")]
            Target::Parquet => "parquet",
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct FuzzReport {
    pub inputs: u64,
    /// Inputs the parser accepted.
    pub accepted: u64,
    /// Inputs it refused with an error.
    pub refused: u64,
    /// Inputs that panicked (the first few kept).
    pub panics: u64,
    /// Panics inside a third-party decoder that our reader contained (turned into an
    /// error); counted separately so they stay visible.
    pub contained_panics: u64,
    pub panic_inputs: Vec<Vec<u8>>,
    /// The panic messages (with their source location) of those inputs.
    pub panic_messages: Vec<String>,
    /// Distinct messages of the first contained panics.
    pub contained_messages: Vec<String>,
}

/// The last panic's message, recorded by the hook [`run`] installs.
static LAST_PANIC: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());
/// Panics seen by that hook.
static PANICS_SEEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Limits small enough that the fuzzer cannot make a reader allocate much (also used by
/// the cargo-fuzz harnesses in `mithridate-fuzz`).
pub fn fuzz_options() -> ReadOptions {
    ReadOptions {
        limits: ReadLimits {
            max_file_bytes: 1 << 20,
            max_columns: 4096,
            max_categories: 4096,
            max_samples: 100_000,
            max_values: 1 << 24,
            max_image_side: 4096,
        },
        ..ReadOptions::default()
    }
}

/// Valid seed inputs of `target`.
pub fn seeds(target: Target) -> Vec<Vec<u8>> {
    match target {
        Target::Csv => vec![
            b"id,a,b,label\n1,0.5,x,0\n2,-3e2,y,1\n3,7,x,1\n".to_vec(),
            b"a,label\n\"1\",\"cat\"\n2,dog\n".to_vec(),
            b"label,c,d\n0,1,2\n1,3,4\n".to_vec(),
        ],
        Target::Jsonl => vec![
            br#"{"id": 1, "text": "FREE money now", "label": "spam"}
{"id": "m-2", "text": "see you at noon", "label": "ham"}
"#
            .to_vec(),
            br#"{"text": "a b c a b", "label": 0, "extra": {"k": [1, 2.5, null]}}
{"text": "\u00e9t\u00e9 <b>x</b>", "label": 1}
"#
            .to_vec(),
        ],
        Target::Png => vec![
            encode_png(2, 2, image::ColorType::L8),
            encode_png(3, 2, image::ColorType::Rgb8),
        ],
        Target::Jpeg => vec![encode_jpeg(8, 8)],
        #[cfg(feature = "parquet")]
        Target::Parquet => vec![super::parquet::example_file()],
    }
}

fn encode_png(w: u32, h: u32, colour: image::ColorType) -> Vec<u8> {
    let channels = usize::from(colour.channel_count());
    let pixels: Vec<u8> = (0..w as usize * h as usize * channels)
        .map(|i| (i * 37) as u8)
        .collect();
    let mut out = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut out),
        &pixels,
        w,
        h,
        colour.into(),
    )
    .expect("encoding a valid PNG seed");
    out
}

fn encode_jpeg(w: u32, h: u32) -> Vec<u8> {
    let pixels: Vec<u8> = (0..w as usize * h as usize * 3)
        .map(|i| (i * 11) as u8)
        .collect();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new(&mut out)
        .encode(&pixels, w, h, image::ExtendedColorType::Rgb8)
        .expect("encoding a valid JPEG seed");
    out
}

const INTERESTING: &[u8] = b",\"\n\r{}[]:\\ \t0-.e\x00\xff\x7f";
const TOKENS: &[&[u8]] = &[
    b"1e999",
    b"-1e39",
    b"NaN",
    b"inf",
    b"18446744073709551616",
    b"-0",
    b"4294967296",
    b"\xc3\x28",
    b"\xed\xa0\x80",
    b"\"\"",
    b"null",
    b"[[[[[[[[",
    b"\"id\"",
    b"\"label\"",
    b"\"text\"",
    b"99999999999999999999999",
    b"\n\n\n",
];

/// One mutated input from `seeds`.
pub fn mutate(rng: &mut ChaCha8Rng, seeds: &[Vec<u8>], png: bool) -> Vec<u8> {
    let mut data = seeds[rng.random_range(0..seeds.len())].clone();
    for _ in 0..rng.random_range(1..=8) {
        let len = data.len();
        match rng.random_range(0..10) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                data[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                data[i] = INTERESTING[rng.random_range(0..INTERESTING.len())];
            }
            2 => {
                let i = rng.random_range(0..=len);
                let n = rng.random_range(1..16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                data.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let i = rng.random_range(0..len);
                let j = (i + rng.random_range(1..32)).min(len);
                data.drain(i..j);
            }
            4 => data.truncate(rng.random_range(0..=len)),
            5 if len > 0 => {
                let i = rng.random_range(0..len);
                let j = (i + rng.random_range(1..64)).min(len);
                let copy = data[i..j].to_vec();
                let at = rng.random_range(0..=len);
                data.splice(at..at, copy);
            }
            6 => {
                let other = &seeds[rng.random_range(0..seeds.len())];
                let cut = rng.random_range(0..=len);
                let from = rng.random_range(0..=other.len());
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            7 => {
                let token = TOKENS[rng.random_range(0..TOKENS.len())];
                let i = rng.random_range(0..=len);
                data.splice(i..i, token.iter().copied());
            }
            8 => {
                let depth = rng.random_range(1..3000);
                let i = rng.random_range(0..=len);
                let open = if rng.random() { b'[' } else { b'{' };
                data.splice(i..i, std::iter::repeat_n(open, depth));
            }
            _ if len >= 4 => {
                // Overwrite a 4-byte field (lengths, sizes, counts) with an extreme value.
                let i = rng.random_range(0..len - 3);
                let v: u32 = match rng.random_range(0..4) {
                    0 => u32::MAX,
                    1 => 0,
                    2 => 0x7fff_ffff,
                    _ => rng.random(),
                };
                data[i..i + 4].copy_from_slice(&v.to_be_bytes());
            }
            _ => {}
        }
    }
    if png && rng.random() {
        fix_png_crcs(&mut data);
    }
    data
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Recomputes the CRC of every complete PNG chunk.
fn fix_png_crcs(data: &mut [u8]) {
    let mut at = 8;
    while at + 12 <= data.len() {
        let len = u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]) as usize;
        let Some(end) = (at + 8).checked_add(len).filter(|&e| e + 4 <= data.len()) else {
            return;
        };
        let crc = crc32(&data[at + 4..end]);
        data[end..end + 4].copy_from_slice(&crc.to_be_bytes());
        at = end + 4;
    }
}

/// Feeds one input to `target`'s parser: `Ok(true)` accepted, `Ok(false)` refused.
fn run_one(target: Target, input: &[u8], options: &ReadOptions) -> bool {
    let name = Path::new("fuzz-input");
    match target {
        Target::Csv => csv::read_bytes(name, input, options).is_ok(),
        Target::Jsonl => jsonl::read_from(name, input, options).is_ok(),
        Target::Png | Target::Jpeg => image_folder::header(name, input, options)
            .and_then(|_| image_folder::decode(name, input, options))
            .is_ok(),
        #[cfg(feature = "parquet")]
        Target::Parquet => super::parquet::read_bytes(name, input.to_vec(), options).is_ok(),
    }
}

/// Runs `count` mutated inputs of `target` from RNG seed `seed`.
pub fn run(target: Target, count: u64, seed: u64) -> FuzzReport {
    let seeds = seeds(target);
    let options = fuzz_options();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut report = FuzzReport::default();
    // Panics are findings, reported below; keep the default hook from printing each one.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        PANICS_SEEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = info.to_string().replace('\n', " ");
        }
    }));
    for i in 0..count {
        // The seeds themselves first: they must parse.
        let input = match seeds.get(i as usize) {
            Some(s) => s.clone(),
            None => mutate(&mut rng, &seeds, target == Target::Png),
        };
        let before = PANICS_SEEN.load(std::sync::atomic::Ordering::Relaxed);
        let outcome = std::panic::catch_unwind(|| run_one(target, &input, &options));
        let contained = PANICS_SEEN.load(std::sync::atomic::Ordering::Relaxed) != before;
        report.inputs += 1;
        match outcome {
            Ok(accepted) => {
                if accepted {
                    report.accepted += 1;
                } else {
                    report.refused += 1;
                }
                if contained {
                    report.contained_panics += 1;
                    if report.contained_messages.len() < 5 {
                        let message = LAST_PANIC.lock().map(|m| m.clone()).unwrap_or_default();
                        if !report.contained_messages.contains(&message) {
                            report.contained_messages.push(message);
                        }
                    }
                }
            }
            Err(_) => {
                report.panics += 1;
                if report.panic_inputs.len() < 5 {
                    report.panic_inputs.push(input);
                    let message = LAST_PANIC.lock().map(|m| m.clone()).unwrap_or_default();
                    report.panic_messages.push(message);
                }
            }
        }
    }
    std::panic::set_hook(hook);
    report
}
