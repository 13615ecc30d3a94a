//! Class-per-folder image trees: `ROOT/<class>/<image>.{png,jpg,jpeg}`. Classes are the
//! subfolder names in byte order (label `i` = `i`-th folder); hidden entries (`.name`) are
//! skipped; any other file type, a nested folder or a file directly under `ROOT` is an error.
//!
//! Pixels become `[0, 1]` floats (`value / 255`, 16-bit images first reduced to 8 bits).
//! The dataset has one channel when every image is greyscale, else three (RGB; greyscale
//! images are replicated, alpha is dropped). All images must share one size unless
//! [`ReadOptions::image_size`] is given, in which case each is resized to it (bilinear,
//! `image::imageops::FilterType::Triangle`).
//!
//! Two passes keep memory bounded: the first reads only the image headers (size and
//! colour type, checked against [`super::ReadLimits`]) and checks the whole tensor's size
//! before anything is allocated; the second decodes with the `image` crate's allocation
//! limit set. A sample's id is the content hash of its file's bytes.

use super::{check_file_size, content_ids, format_err, ReadOptions};
use crate::fsutil::io_err;
use crate::{Dataset, Features, Modality, Result};
use image::{imageops::FilterType, ColorType, ImageDecoder, ImageReader, Limits};
use sha2::{Digest, Sha256};
use std::io::Cursor;
use std::path::{Path, PathBuf};

/// Reads a class-per-folder image tree into an image dataset.
pub fn read(root: &Path, options: &ReadOptions) -> Result<Dataset> {
    let limits = &options.limits;
    let (classes, files) = list_tree(root, limits.max_samples)?;
    if files.is_empty() {
        return Err(format_err(
            root,
            "no images (expected ROOT/<class>/<image>.png)",
        ));
    }
    // Pass 1: headers.
    let mut first: Option<(PathBuf, u32, u32)> = None;
    let mut colour = false;
    for (file, _) in &files {
        let bytes = read_image_bytes(file, options)?;
        let (w, h, ct) = header(file, &bytes, options)?;
        colour |= !matches!(
            ct,
            ColorType::L8 | ColorType::L16 | ColorType::La8 | ColorType::La16
        );
        match &first {
            None => first = Some((file.clone(), w, h)),
            Some((f0, w0, h0)) if options.image_size.is_none() && (w, h) != (*w0, *h0) => {
                return Err(format_err(
                    file,
                    format!(
                        "image is {w}x{h} but {} is {w0}x{h0} (mixed sizes; pass --image-size HxW to resize)",
                        f0.display()
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    let (height, width) = match (options.image_size, &first) {
        (Some((h, w)), _) => (h, w),
        (None, Some((_, w, h))) => (*h, *w),
        (None, None) => unreachable!("files is non-empty"),
    };
    if height == 0 || width == 0 || height > limits.max_image_side || width > limits.max_image_side
    {
        return Err(format_err(
            root,
            format!("image size {height}x{width} is out of range"),
        ));
    }
    let channels = if colour { 3 } else { 1 };
    let per = channels * height as usize * width as usize;
    if files.len().saturating_mul(per) > limits.max_values {
        return Err(format_err(
            root,
            format!(
                "{} images x {per} values is over the {}-value limit",
                files.len(),
                limits.max_values
            ),
        ));
    }
    // Pass 2: pixels, channel-major per image.
    let mut values: Vec<f32> = Vec::with_capacity(files.len() * per);
    let mut digests = Vec::with_capacity(files.len());
    for (file, _) in &files {
        let bytes = read_image_bytes(file, options)?;
        digests.push(Sha256::digest(&bytes).into());
        let mut image = decode(file, &bytes, options)?;
        if (image.height(), image.width()) != (height, width) {
            image = image.resize_exact(width, height, FilterType::Triangle);
        }
        if colour {
            let rgb = image.to_rgb8();
            for c in 0..3 {
                values.extend(rgb.pixels().map(|p| f32::from(p.0[c]) / 255.0));
            }
        } else {
            values.extend(
                image
                    .to_luma8()
                    .as_raw()
                    .iter()
                    .map(|&v| f32::from(v) / 255.0),
            );
        }
    }
    let labels: Vec<u32> = files.iter().map(|(_, label)| *label).collect();
    let ids = content_ids(&digests);
    Dataset::new(
        Modality::Image {
            channels,
            height: height as usize,
            width: width as usize,
        },
        Features::Dense(values),
        labels,
        ids,
        classes.len(),
        classes,
    )
    .map_err(|e| format_err(root, e.to_string()))
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_string_lossy().starts_with('.')
}

/// Sorted entries of `dir` (hidden ones skipped).
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        if !is_hidden(&entry.file_name()) {
            entries.push(entry.path());
        }
    }
    entries.sort();
    Ok(entries)
}

/// An image file and its label.
type LabelledFile = (PathBuf, u32);

/// The class names and labelled image files of a tree.
fn list_tree(root: &Path, max_samples: usize) -> Result<(Vec<String>, Vec<LabelledFile>)> {
    let mut classes = Vec::new();
    let mut files = Vec::new();
    for class_dir in sorted_entries(root)? {
        if !class_dir.is_dir() {
            return Err(format_err(
                &class_dir,
                "a file directly in the image folder (expected one folder per class)",
            ));
        }
        let label = classes.len() as u32;
        let name = class_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        classes.push(name);
        for file in sorted_entries(&class_dir)? {
            if file.is_dir() {
                return Err(format_err(&file, "a folder inside a class folder"));
            }
            let ext = file
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            if !matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg")) {
                return Err(format_err(&file, "not a .png, .jpg or .jpeg image"));
            }
            if files.len() >= max_samples {
                return Err(format_err(
                    root,
                    format!("more than {max_samples} images, over the limit"),
                ));
            }
            files.push((file, label));
        }
    }
    Ok((classes, files))
}

fn read_image_bytes(file: &Path, options: &ReadOptions) -> Result<Vec<u8>> {
    check_file_size(file, &options.limits)?;
    std::fs::read(file).map_err(io_err(file))
}

fn reader<'a>(
    file: &Path,
    bytes: &'a [u8],
    options: &ReadOptions,
) -> Result<ImageReader<Cursor<&'a [u8]>>> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(io_err(file))?;
    let side = options.limits.max_image_side;
    let mut limits = Limits::default();
    limits.max_image_width = Some(side);
    limits.max_image_height = Some(side);
    // Room for one 16-bit RGBA image of the largest side the limits accept, at most 1 GiB.
    limits.max_alloc = Some((u64::from(side) * u64::from(side) * 8).min(1 << 30));
    reader.limits(limits);
    Ok(reader)
}

fn image_err(file: &Path, e: image::ImageError) -> crate::DataError {
    let message = e.to_string().replace('\n', " ");
    format_err(file, format!("unreadable image ({message})"))
}

/// `(width, height, colour type)` of one image file's `bytes` from its header only
/// (`file` names it in errors).
pub fn header(file: &Path, bytes: &[u8], options: &ReadOptions) -> Result<(u32, u32, ColorType)> {
    let decoder = reader(file, bytes, options)?
        .into_decoder()
        .map_err(|e| image_err(file, e))?;
    let (w, h) = decoder.dimensions();
    let side = options.limits.max_image_side;
    if w == 0 || h == 0 || w > side || h > side {
        return Err(format_err(
            file,
            format!("image is {w}x{h}, outside 1..={side} pixels a side"),
        ));
    }
    Ok((w, h, decoder.color_type()))
}

/// Decodes one image file's `bytes` under the allocation limits.
pub fn decode(file: &Path, bytes: &[u8], options: &ReadOptions) -> Result<image::DynamicImage> {
    reader(file, bytes, options)?
        .decode()
        .map_err(|e| image_err(file, e))
}
