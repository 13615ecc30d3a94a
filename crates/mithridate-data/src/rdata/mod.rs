//! A small, defensive reader for the subset of R's serialization format (R Internals,
//! "Serialization Formats"; `src/main/serialize.c`) needed to read a data frame from an
//! `.rda` file written by `save()`: XDR (big-endian binary) format version 2 or 3, optionally
//! gzip- or bzip2-compressed, holding a pairlist of named objects.
//!
//! Supported: `NULL`, symbols and references to them, pairlists (for attributes and the
//! top-level object list), `CHARSXP`/`STRSXP` strings (including `NA`), logical, integer and
//! double vectors, generic vectors (`VECSXP`, i.e. lists and data frames), attributes.
//! Everything else (environments, closures, bytecode, ALTREP, ASCII or native formats) is
//! rejected with an error naming the file and the unsupported type; lengths are checked
//! against the remaining input before anything is allocated, and nesting is bounded.

// The serialization format's reader, re-exported so its `rdata::` paths stay as they were.
mod serialization;
pub use serialization::{read_rda, RData, RValue};

use crate::{DataError, Result};

/// A one-line format error for `file`.
pub fn format_err(file: &str, message: impl Into<String>) -> DataError {
    DataError::Format {
        path: file.into(),
        message: message.into(),
    }
}

/// A data frame column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub values: ColumnValues,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ColumnValues {
    /// Numeric (double or integer) values.
    Real(Vec<f64>),
    /// A factor: 0-based level codes and the level names.
    Factor {
        codes: Vec<usize>,
        levels: Vec<String>,
    },
}

/// A data frame: named columns of equal length.
#[derive(Debug, Clone, PartialEq)]
pub struct DataFrame {
    pub columns: Vec<Column>,
    pub rows: usize,
}

/// Reads the data frame called `object` from an `.rda` file. Numeric and integer columns
/// become [`ColumnValues::Real`], factors [`ColumnValues::Factor`]; `NA` in a factor, or any
/// other column type, is an error.
pub fn read_data_frame(file: &str, bytes: &[u8], object: &str) -> Result<DataFrame> {
    let objects = read_rda(file, bytes)?;
    let value = objects
        .into_iter()
        .find(|(name, _)| name == object)
        .map(|(_, v)| v)
        .ok_or_else(|| format_err(file, format!("no object named '{object}'")))?;
    let is_frame = value
        .string_attribute("class")
        .is_some_and(|c| c.iter().any(|c| c.as_deref() == Some("data.frame")));
    let RData::List(columns) = &value.data else {
        return Err(format_err(
            file,
            format!("'{object}' is {}, not a data frame", value.data.type_name()),
        ));
    };
    if !is_frame {
        return Err(format_err(
            file,
            format!("'{object}' is a list without class data.frame"),
        ));
    }
    let names = value
        .string_attribute("names")
        .ok_or_else(|| format_err(file, format!("'{object}' has no column names")))?;
    if names.len() != columns.len() {
        return Err(format_err(
            file,
            "column names and columns differ in number",
        ));
    }
    let mut out = Vec::with_capacity(columns.len());
    let mut rows = None;
    for (name, column) in names.iter().zip(columns) {
        let name = name.clone().unwrap_or_else(|| "NA".to_string());
        let is_factor = column
            .string_attribute("class")
            .is_some_and(|c| c.iter().any(|c| c.as_deref() == Some("factor")));
        let values = match (&column.data, is_factor) {
            (RData::Integer(codes), true) => {
                let levels: Vec<String> = column
                    .string_attribute("levels")
                    .ok_or_else(|| format_err(file, format!("factor '{name}' has no levels")))?
                    .iter()
                    .map(|l| l.clone().unwrap_or_else(|| "NA".to_string()))
                    .collect();
                let codes = codes
                    .iter()
                    .enumerate()
                    .map(|(row, &c)| {
                        usize::try_from(c)
                            .ok()
                            .filter(|&c| c >= 1 && c <= levels.len())
                            .map(|c| c - 1)
                            .ok_or_else(|| {
                                format_err(
                                    file,
                                    format!(
                                        "factor '{name}' has NA or invalid code {c} at row {row}"
                                    ),
                                )
                            })
                    })
                    .collect::<Result<_>>()?;
                ColumnValues::Factor { codes, levels }
            }
            (RData::Real(v), false) => ColumnValues::Real(v.clone()),
            (RData::Integer(v), false) => ColumnValues::Real(
                v.iter()
                    .map(|&x| if x == i32::MIN { f64::NAN } else { x as f64 })
                    .collect(),
            ),
            (other, _) => {
                return Err(format_err(
                    file,
                    format!("column '{name}' has unsupported type {}", other.type_name()),
                ))
            }
        };
        let len = match &values {
            ColumnValues::Real(v) => v.len(),
            ColumnValues::Factor { codes, .. } => codes.len(),
        };
        if *rows.get_or_insert(len) != len {
            return Err(format_err(
                file,
                format!("column '{name}' has {len} rows, others differ"),
            ));
        }
        out.push(Column { name, values });
    }
    Ok(DataFrame {
        columns: out,
        rows: rows.unwrap_or(0),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::serialization::{
        CHARSXP, HAS_ATTR_BIT, HAS_TAG_BIT, INTSXP, LISTSXP, NILVALUE_SXP, REALSXP, REFSXP, STRSXP,
        SYMSXP, VECSXP,
    };
    use super::*;

    const IS_OBJECT_BIT: u32 = 1 << 8;

    /// Builds XDR R serialization by hand, mirroring serialize.c's writer.
    pub(crate) struct Writer(pub Vec<u8>);

    impl Writer {
        pub fn new(version: i32) -> Self {
            let mut w = Writer(b"RDX2\nX\n".to_vec());
            if version == 3 {
                w.0[3] = b'3';
            }
            w.int(version);
            w.int(0x040200);
            w.int(0x020300);
            if version == 3 {
                w.int(5);
                w.0.extend_from_slice(b"UTF-8");
            }
            w
        }
        pub fn int(&mut self, v: i32) {
            self.0.extend_from_slice(&v.to_be_bytes());
        }
        pub fn flags(&mut self, kind: u8, attr: bool, tag: bool, object: bool) {
            let mut f = kind as u32;
            if object {
                f |= IS_OBJECT_BIT;
            }
            if attr {
                f |= HAS_ATTR_BIT;
            }
            if tag {
                f |= HAS_TAG_BIT;
            }
            self.int(f as i32);
        }
        pub fn charsxp(&mut self, s: &str) {
            self.int(CHARSXP as i32 | (1 << 18)); // gp bit: UTF-8/ASCII, as R writes it
            self.int(s.len() as i32);
            self.0.extend_from_slice(s.as_bytes());
        }
        pub fn symbol(&mut self, s: &str) {
            self.flags(SYMSXP, false, false, false);
            self.charsxp(s);
        }
        pub fn strsxp(&mut self, values: &[&str], attr: bool) {
            self.flags(STRSXP, attr, false, false);
            self.int(values.len() as i32);
            for v in values {
                self.charsxp(v);
            }
        }
        pub fn reals(&mut self, values: &[f64]) {
            self.flags(REALSXP, false, false, false);
            self.int(values.len() as i32);
            for v in values {
                self.0.extend_from_slice(&v.to_be_bytes());
            }
        }
        pub fn nil(&mut self) {
            self.int(NILVALUE_SXP as i32);
        }
        /// One pairlist cell with a symbol tag (value written by `value`).
        pub fn cell(&mut self, tag: &str, value: impl FnOnce(&mut Self)) {
            self.flags(LISTSXP, false, true, false);
            self.symbol(tag);
            value(self);
        }
    }

    /// `spam <- data.frame(a = c(1.5, 2), type = factor(c("spam", "nonspam"), levels =
    /// c("nonspam", "spam")))`, saved.
    pub(crate) fn tiny_frame(version: i32) -> Vec<u8> {
        let mut w = Writer::new(version);
        w.cell("spam", |w| {
            w.flags(VECSXP, true, false, true);
            w.int(2);
            w.reals(&[1.5, 2.0]);
            // factor column
            w.flags(INTSXP, true, false, true);
            w.int(2);
            w.int(2);
            w.int(1);
            w.cell("levels", |w| w.strsxp(&["nonspam", "spam"], false));
            w.cell("class", |w| w.strsxp(&["factor"], false));
            w.nil();
            // data frame attributes; "class" is a back-reference to the symbol above
            w.cell("names", |w| w.strsxp(&["a", "type"], false));
            w.flags(LISTSXP, false, true, false);
            w.int(((3u32 << 8) | REFSXP as u32) as i32); // ref #3 = symbol "class"
            w.strsxp(&["data.frame"], false);
            w.nil();
        });
        w.nil();
        w.0
    }

    #[test]
    fn reads_a_hand_made_data_frame_v2_and_v3_and_compressed() {
        for version in [2, 3] {
            let bytes = tiny_frame(version);
            let frame = read_data_frame("t.rda", &bytes, "spam").unwrap();
            assert_eq!(frame.rows, 2);
            assert_eq!(frame.columns[0].name, "a");
            assert_eq!(frame.columns[0].values, ColumnValues::Real(vec![1.5, 2.0]));
            assert_eq!(
                frame.columns[1].values,
                ColumnValues::Factor {
                    codes: vec![1, 0],
                    levels: vec!["nonspam".into(), "spam".into()]
                }
            );
        }
        let raw = tiny_frame(2);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &raw).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(read_data_frame("t", &gz, "spam").unwrap().rows, 2);
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        std::io::Write::write_all(&mut bz, &raw).unwrap();
        let bz = bz.finish().unwrap();
        assert_eq!(read_data_frame("t", &bz, "spam").unwrap().rows, 2);
    }

    /// Writes the `.rda` seeds of the fuzz corpus (`fuzz/corpus/rda/`, see
    /// `crates/mithridate-fuzz/examples/write_seeds.rs`) into `$MITHRIDATE_FUZZ_SEEDS/rda/`.
    #[test]
    #[ignore = "writes the fuzz seed corpus; run by hand"]
    fn write_fuzz_seeds() {
        let dir = std::path::PathBuf::from(
            std::env::var_os("MITHRIDATE_FUZZ_SEEDS").expect("MITHRIDATE_FUZZ_SEEDS"),
        )
        .join("rda");
        std::fs::create_dir_all(&dir).unwrap();
        for version in [2, 3] {
            std::fs::write(
                dir.join(format!("frame-v{version}.rda")),
                tiny_frame(version),
            )
            .unwrap();
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tiny_frame(2)).unwrap();
        std::fs::write(dir.join("frame-v2.rda.gz"), gz.finish().unwrap()).unwrap();
    }

    #[test]
    fn rejects_bad_input_without_panicking() {
        let good = tiny_frame(2);
        // Every truncation is an error, never a panic.
        for cut in 0..good.len() {
            assert!(
                read_data_frame("t", &good[..cut], "spam").is_err(),
                "cut at {cut}"
            );
        }
        let e = |b: &[u8]| read_data_frame("t.rda", b, "spam").unwrap_err().to_string();
        assert!(e(b"hello").contains("missing RDX2/RDX3"));
        assert!(e(b"RDX2\nA\n").contains("only the XDR"));
        assert!(e(&[0x1f, 0x8b, 0, 0]).contains("corrupt compressed"));
        assert!(read_data_frame("t", &good, "other")
            .unwrap_err()
            .to_string()
            .contains("no object named 'other'"));
        // An environment (type 4) is unsupported.
        let mut w = Writer::new(2);
        w.cell("spam", |w| w.flags(4, false, false, false));
        assert!(e(&w.0).contains("unsupported R object type 4"));
        // A huge claimed length is refused before allocating.
        let mut w = Writer::new(2);
        w.cell("spam", |w| {
            w.flags(REALSXP, false, false, false);
            w.int(i32::MAX);
        });
        assert!(e(&w.0).contains("exceeds the remaining data"));
        // A dangling reference.
        let mut w = Writer::new(2);
        w.cell("spam", |w| w.int(((9u32 << 8) | REFSXP as u32) as i32));
        assert!(e(&w.0).contains("unknown object"));
        // A list without class data.frame.
        let mut w = Writer::new(2);
        w.cell("spam", |w| {
            w.flags(VECSXP, false, false, false);
            w.int(0);
        });
        w.nil();
        assert!(e(&w.0).contains("without class data.frame"));
    }
}
