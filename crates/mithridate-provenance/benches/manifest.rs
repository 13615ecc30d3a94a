//! Manifest speed: `cargo bench -p mithridate-provenance --bench manifest`.
//!
//! Bars (issue 6): a manifest of all 60,000 MNIST training samples in under 1 s, and
//! hashing throughput within 2x of BLAKE3's single-core speed on this machine. Uses real
//! MNIST through `mithridate_data::load` when it can be loaded (cached or fetchable), else
//! synthetic 60,000 x 784 data of the same size, and says which. Best of several runs,
//! because the machine is shared.

use mithridate_data::{DataHome, Dataset, Features, Modality, Split};
use mithridate_provenance::merkle::{leaf_hash, merkle_root, FeatureHasher};
use mithridate_provenance::{CheckedDiffParams, Manifest};
use std::time::{Duration, Instant};

const RUNS: usize = 5;

fn best<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        let value = f();
        best = best.min(start.elapsed());
        out = Some(value);
    }
    (best, out.expect("RUNS > 0"))
}

fn synthetic() -> Dataset {
    let (n, d) = (60_000usize, 784usize);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let values: Vec<f32> = (0..n * d)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 56) as f32 / 255.0
        })
        .collect();
    Dataset::new(
        Modality::Image {
            channels: 1,
            height: 28,
            width: 28,
        },
        Features::Dense(values),
        (0..n).map(|i| (i % 10) as u32).collect(),
        (0..n as u64).collect(),
        10,
        vec![],
    )
    .expect("synthetic data is valid")
}

fn load_data() -> (String, Dataset) {
    let real =
        DataHome::from_env().and_then(|home| mithridate_data::load(&home, "mnist", Split::Train));
    match real {
        Ok(ds) => ("real MNIST train".into(), ds),
        Err(e) => {
            eprintln!("real MNIST unavailable ({e}); using synthetic data of the same size");
            ("synthetic 60,000 x 784".into(), synthetic())
        }
    }
}

fn main() {
    let (what, data) = load_data();
    let Features::Dense(values) = data.features() else {
        panic!("MNIST is dense");
    };
    let bytes: &[u8] = bytemuck::cast_slice(values);
    let mb = bytes.len() as f64 / 1e6;
    let threads = rayon::current_num_threads();
    println!(
        "data: {what}, {} samples, {mb:.1} MB of features, {threads} rayon threads",
        data.len()
    );

    // Reference: BLAKE3 over one contiguous buffer on one core (SIMD, no threads).
    let (t_ref, _) = best(|| blake3::hash(bytes));
    let ref_mbs = mb / t_ref.as_secs_f64();
    println!(
        "blake3::hash, 1 core, one buffer:     {:7.1} ms  {ref_mbs:7.0} MB/s",
        ms(t_ref)
    );

    // Our per-sample hashing (features hash, leaves, Merkle root), pinned to one thread.
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    let (t_one, m1) = best(|| one.install(|| Manifest::build(&data, None, None)));
    let one_mbs = mb / t_one.as_secs_f64();
    println!(
        "Manifest::build, 1 thread:           {:7.1} ms  {one_mbs:7.0} MB/s  ({:.2}x slower than blake3 1 core)",
        ms(t_one),
        ref_mbs / one_mbs
    );

    // Where the single-thread time goes.
    let per = data.modality().sample_len();
    let hasher = FeatureHasher::new(data.modality());
    let (t_feat, feats) = best(|| {
        values
            .chunks_exact(per)
            .map(|row| hasher.dense(row))
            .collect::<Vec<_>>()
    });
    let (t_leaf, leaves) = best(|| {
        feats
            .iter()
            .zip(data.ids().iter().zip(data.labels()))
            .map(|(f, (&id, &label))| leaf_hash(id, label, f))
            .collect::<Vec<_>>()
    });
    let (t_root, _) = best(|| merkle_root(&leaves));
    println!(
        "  of which, 1 thread: features {:.1} ms ({:.0} MB/s), leaves {:.1} ms, tree {:.1} ms",
        ms(t_feat),
        mb / t_feat.as_secs_f64(),
        ms(t_leaf),
        ms(t_root)
    );

    // All cores: the number the < 1 s bar is about.
    let (t_all, manifest) = best(|| Manifest::build(&data, None, None));
    let all_mbs = mb / t_all.as_secs_f64();
    println!(
        "Manifest::build, {threads} threads:           {:7.1} ms  {all_mbs:7.0} MB/s  ({:.2}x blake3 1 core)",
        ms(t_all),
        all_mbs / ref_mbs
    );
    assert_eq!(
        m1.root(),
        manifest.root(),
        "thread count must not change the root"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("mnist.manifest.json");
    let (t_save, _) = best(|| manifest.save(&path).expect("save"));
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "save (pretty JSON, atomic):          {:7.1} ms  ({:.1} MB file)",
        ms(t_save),
        size as f64 / 1e6
    );
    let (t_load, loaded) = best(|| Manifest::load(&path).expect("load"));
    println!("load + validate (root recomputed):   {:7.1} ms", ms(t_load));
    let params = CheckedDiffParams::default();
    let (t_verify, diff) = best(|| loaded.verify_data(&data, &params));
    assert!(diff.is_clean());
    println!(
        "verify_data (re-hash + diff):        {:7.1} ms",
        ms(t_verify)
    );
    println!(
        "bars: build < 1 s: {}; 1-thread hashing within 2x of blake3 1 core: {}",
        if t_all < Duration::from_secs(1) {
            "met"
        } else {
            "MISSED"
        },
        if ref_mbs / one_mbs <= 2.0 {
            "met"
        } else {
            "MISSED"
        },
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
