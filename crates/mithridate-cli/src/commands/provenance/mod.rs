//! `mithridate provenance`: signed dataset manifests and manifest diffs.

mod print;

use print::print_diff;

use crate::output::{Context, Verdict};
use anyhow::{Context as _, Result};
use clap::Subcommand;
use mithridate_core::ParamGuard;
use mithridate_data::{DataHome, Dataset, Split};
use mithridate_provenance::{keys, DiffParams, Manifest, ManifestDiff};
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum ProvenanceCommand {
    /// Generate an Ed25519 key pair: KEY (PKCS#8 PEM, created with mode 0600) and KEY.pub
    /// (SPKI PEM). Keys are never printed; only the public key's id is.
    Keygen {
        /// Secret key file to create (the public key goes to FILE.pub).
        #[arg(short, long)]
        output: PathBuf,
        /// Replace existing key files.
        #[arg(long)]
        force: bool,
    },
    /// Hash every sample (BLAKE3, keyed by stable id) into a manifest with a Merkle root,
    /// class counts, source, licence, tool version and time.
    Manifest {
        /// Built-in dataset name or .npz file.
        #[arg(long)]
        data: String,
        /// Which split of a built-in dataset.
        #[arg(long, default_value_t = Split::Train)]
        split: Split,
        /// Where the data came from (free text, recorded and signed).
        #[arg(long)]
        source: Option<String>,
        /// The data's licence (free text, recorded and signed).
        #[arg(long)]
        license: Option<String>,
        /// Sign the manifest with this secret key right away.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Manifest file to write (atomically).
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Sign a manifest with a secret key (Ed25519 over its canonical content), embedding the
    /// signature; replaces any earlier signature.
    Sign {
        /// Secret key file (from `keygen`).
        #[arg(long)]
        key: PathBuf,
        /// Manifest to sign.
        manifest: PathBuf,
        /// Write the signed manifest here instead of replacing the input.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Check a manifest's signature against a public key and, with --data, that the data is
    /// exactly what the manifest lists: names every added, removed, feature-changed and
    /// label-changed sample. Exit 1 on any difference or a bad signature.
    Verify {
        /// Public key file (KEY.pub).
        #[arg(long)]
        pubkey: PathBuf,
        /// Manifest to check.
        manifest: PathBuf,
        /// Built-in dataset name or .npz file to re-hash and compare.
        #[arg(long)]
        data: Option<String>,
        /// Which split of a built-in dataset.
        #[arg(long, default_value_t = Split::Train)]
        split: Split,
        /// Flag classes whose share of the data moved by more than this fraction.
        #[arg(long, default_value_t = DiffParams::default().share_threshold)]
        share_threshold: f64,
    },
    /// Compare two manifests: added, removed, feature-changed and label-changed samples by
    /// id, and per-class share shifts (a cheap label-flip alarm).
    Diff {
        /// The earlier manifest.
        old: PathBuf,
        /// The later manifest.
        new: PathBuf,
        /// Flag classes whose share of the data moved by more than this fraction.
        #[arg(long, default_value_t = DiffParams::default().share_threshold)]
        share_threshold: f64,
        /// Exit 1 when anything differs or a class is flagged (for CI).
        #[arg(long)]
        fail_on_change: bool,
    },
}

pub fn run(cmd: ProvenanceCommand, ctx: &Context) -> Result<()> {
    match cmd {
        ProvenanceCommand::Keygen { output, force } => keygen(&output, force, ctx),
        ProvenanceCommand::Manifest {
            data,
            split,
            source,
            license,
            key,
            output,
        } => manifest(&data, split, source, license, key.as_deref(), &output, ctx),
        ProvenanceCommand::Sign {
            key,
            manifest,
            output,
        } => sign(&key, &manifest, output.as_deref().unwrap_or(&manifest), ctx),
        ProvenanceCommand::Verify {
            pubkey,
            manifest,
            data,
            split,
            share_threshold,
        } => verify(
            &pubkey,
            &manifest,
            data.as_deref(),
            split,
            share_threshold,
            ctx,
        ),
        ProvenanceCommand::Diff {
            old,
            new,
            share_threshold,
            fail_on_change,
        } => diff(&old, &new, share_threshold, fail_on_change, ctx),
    }
}

fn load_data(source: &str, split: Split) -> Result<Dataset> {
    let home = DataHome::from_env()?;
    mithridate_data::load(&home, source, split).with_context(|| format!("loading '{source}'"))
}

fn keygen(output: &Path, force: bool, ctx: &Context) -> Result<()> {
    let key = keys::generate()?;
    let public_path = keys::write_keypair(output, &key, force)?;
    let id = keys::key_id(&key.verifying_key());
    if ctx.json {
        ctx.print_json(&json!({
            "secret_key": output,
            "public_key": public_path,
            "key_id": id,
        }))
    } else {
        println!(
            "wrote secret key {} (mode 0600) and public key {}; key id {id}",
            output.display(),
            public_path.display()
        );
        Ok(())
    }
}

fn manifest(
    data: &str,
    split: Split,
    source: Option<String>,
    license: Option<String>,
    key: Option<&Path>,
    output: &Path,
    ctx: &Context,
) -> Result<()> {
    let key = key.map(keys::read_signing_key).transpose()?;
    let dataset = load_data(data, split)?;
    let mut manifest = Manifest::build(&dataset, source, license);
    if let Some(key) = &key {
        manifest.sign(key);
    }
    manifest.save(output)?;
    if ctx.json {
        ctx.print_json(&json!({
            "manifest": output,
            "root": manifest.root(),
            "num_samples": manifest.num_samples(),
            "class_counts": manifest.class_counts(),
            "signed_by": manifest.signature().map(|s| s.key_id.clone()),
        }))
    } else {
        println!(
            "wrote {}: {} samples, root {}{}",
            output.display(),
            manifest.num_samples(),
            manifest.root(),
            manifest
                .signature()
                .map(|s| format!(", signed by key {}", s.key_id))
                .unwrap_or_default()
        );
        Ok(())
    }
}

fn sign(key: &Path, manifest_path: &Path, output: &Path, ctx: &Context) -> Result<()> {
    let key = keys::read_signing_key(key)?;
    let mut manifest = Manifest::load(manifest_path)?;
    manifest.sign(&key);
    manifest.save(output)?;
    let id = keys::key_id(&key.verifying_key());
    if ctx.json {
        ctx.print_json(&json!({"manifest": output, "root": manifest.root(), "key_id": id}))
    } else {
        println!(
            "signed {} (root {}) with key {id}",
            output.display(),
            manifest.root()
        );
        Ok(())
    }
}

fn verify(
    pubkey: &Path,
    manifest_path: &Path,
    data: Option<&str>,
    split: Split,
    share_threshold: f64,
    ctx: &Context,
) -> Result<()> {
    let params = DiffParams { share_threshold }.check()?;
    let key = keys::read_verifying_key(pubkey)?;
    let manifest = Manifest::load(manifest_path)?;
    let signature = manifest.verify_signature(&key);
    let diff = match data {
        Some(source) => Some(manifest.verify_data(&load_data(source, split)?, &params)),
        None => None,
    };
    if ctx.json {
        ctx.print_json(&json!({
            "manifest": manifest_path,
            "root": manifest.root(),
            "signature_valid": signature.is_ok(),
            "signature_error": signature.as_ref().err().map(|e| e.to_string()),
            "key_id": keys::key_id(&key),
            "data": diff,
        }))?;
    } else {
        match &signature {
            Ok(()) => println!(
                "signature: valid (key {}), root {}",
                keys::key_id(&key),
                manifest.root()
            ),
            Err(e) => println!("signature: INVALID: {e}"),
        }
        if let Some(diff) = &diff {
            if diff.is_clean() {
                println!("data: matches the manifest ({} samples)", diff.new_samples);
            } else {
                println!("data: DIFFERS from the manifest");
                print_diff(diff);
            }
        }
    }
    let mut failures = Vec::new();
    if let Err(e) = signature {
        failures.push(format!("signature: {e}"));
    }
    if let Some(diff) = diff.filter(|d| !d.is_clean()) {
        failures.push(format!("data differs: {}", diff.summary()));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Verdict(failures.join("; ")).into())
    }
}

fn diff(
    old: &Path,
    new: &Path,
    share_threshold: f64,
    fail_on_change: bool,
    ctx: &Context,
) -> Result<()> {
    let params = DiffParams { share_threshold }.check()?;
    let old_manifest = Manifest::load(old)?;
    let new_manifest = Manifest::load(new)?;
    let diff = ManifestDiff::between(&old_manifest, &new_manifest, &params);
    if ctx.json {
        ctx.print_json(&serde_json::to_value(&diff)?)?;
    } else {
        println!(
            "old {}: {} samples, root {}",
            old.display(),
            diff.old_samples,
            diff.old_root
        );
        println!(
            "new {}: {} samples, root {}",
            new.display(),
            diff.new_samples,
            diff.new_root
        );
        print_diff(&diff);
    }
    let changed = !diff.is_clean() || diff.flagged_classes().next().is_some();
    if fail_on_change && changed {
        return Err(Verdict(diff.summary()).into());
    }
    Ok(())
}
