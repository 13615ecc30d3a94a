//! Global flags for bring-your-own-data files (`.csv`, `.jsonl`, `.parquet`, image
//! folders), accepted by every command that reads `--data` or another dataset source: they
//! set the process's reader options once, before the command runs.

use anyhow::{bail, Context as _, Result};
use clap::Args;
use mithridate_data::readers::{self, ReadOptions, TableEncoding};
use std::path::PathBuf;

#[derive(Args, Debug, Clone, Default)]
pub struct ReaderFlags {
    /// Tables and JSONL: the column/field holding the label (default `label`).
    #[arg(long, global = true, value_name = "NAME")]
    pub label_column: Option<String>,
    /// Tables and JSONL: the column/field holding a unique sample id (default `id` when
    /// present; otherwise ids are content hashes).
    #[arg(long, global = true, value_name = "NAME")]
    pub id_column: Option<String>,
    /// Image folders: resize every image to HxW (e.g. 28x28); without it, images of
    /// different sizes are refused.
    #[arg(long, global = true, value_name = "HxW")]
    pub image_size: Option<String>,
    /// Tables: apply a recorded encoding (`data export` writes `OUT.npz.encoding.json` for
    /// .csv/.parquet sources) so this table gets the same columns, categories and classes.
    #[arg(long, global = true, value_name = "FILE")]
    pub table_encoding: Option<PathBuf>,
    /// JSONL text: encode with this vocabulary (one token per line, e.g. the
    /// `.npz.vocab.txt` of the exported train file) instead of building one.
    #[arg(long, global = true, value_name = "FILE")]
    pub vocab: Option<PathBuf>,
    /// The largest input any reader accepts, in bytes (suffixes K, M, G: powers of 1024): a
    /// file on disk, an image, or one `.npz` array once decompressed. Larger inputs are
    /// refused before memory is spent (default 4G).
    #[arg(
        long,
        global = true,
        value_name = "SIZE",
        env = "MITHRIDATE_MAX_INPUT_BYTES"
    )]
    pub max_input_bytes: Option<String>,
}

/// Parses a byte count with an optional K/M/G suffix (powers of 1024), at least 1.
fn parse_bytes(text: &str) -> Result<u64> {
    let t = text.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 10),
        Some((i, 'm' | 'M')) => (&t[..i], 20),
        Some((i, 'g' | 'G')) => (&t[..i], 30),
        _ => (t, 0),
    };
    match digits.trim().parse::<u64>() {
        Ok(n) if n >= 1 && n.leading_zeros() >= shift => Ok(n << shift),
        _ => bail!("--max-input-bytes '{text}' is not a positive byte count (e.g. 500M, 4G)"),
    }
}

/// Parses `HxW` (both 1..=16384).
fn parse_size(text: &str) -> Result<(u32, u32)> {
    let parsed = text
        .split_once(['x', 'X'])
        .and_then(|(h, w)| Some((h.trim().parse::<u32>().ok()?, w.trim().parse::<u32>().ok()?)));
    match parsed {
        Some((h, w)) if (1..=16_384).contains(&h) && (1..=16_384).contains(&w) => Ok((h, w)),
        _ => bail!("--image-size '{text}' is not HxW with sides in 1..=16384 (e.g. 28x28)"),
    }
}

impl ReaderFlags {
    /// Sets the process's reader options from the flags (a no-op when none is given).
    pub fn apply(&self) -> Result<()> {
        let mut options = ReadOptions {
            label_column: self.label_column.clone(),
            id_column: self.id_column.clone(),
            ..ReadOptions::default()
        };
        if let Some(size) = &self.max_input_bytes {
            options.limits.max_file_bytes = parse_bytes(size)?;
        }
        if let Some(size) = &self.image_size {
            options.image_size = Some(parse_size(size)?);
        }
        if let Some(path) = &self.table_encoding {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading --table-encoding {}", path.display()))?;
            let encoding: TableEncoding = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a table encoding", path.display()))?;
            options.encoding = Some(encoding);
        }
        if let Some(path) = &self.vocab {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading --vocab {}", path.display()))?;
            options.vocabulary = Some(text.lines().map(str::to_string).collect());
        }
        if options == ReadOptions::default() {
            return Ok(());
        }
        readers::set_process_options(options)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_or_are_refused() {
        assert_eq!(parse_size("28x32").unwrap(), (28, 32));
        assert_eq!(parse_size("8X8").unwrap(), (8, 8));
        for bad in ["28", "0x5", "5x", "x5", "99999x2", "-1x3"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn byte_counts_parse_or_are_refused() {
        assert_eq!(parse_bytes("100").unwrap(), 100);
        assert_eq!(parse_bytes("3K").unwrap(), 3 << 10);
        assert_eq!(parse_bytes("500m").unwrap(), 500 << 20);
        assert_eq!(parse_bytes(" 4G ").unwrap(), 4 << 30);
        for bad in ["", "0", "-1", "G", "1.5G", "4T", "99999999999999999G"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }
}
