//! Aggregation benchmark (not a test): n = 100 clients, d = 1,000,000 f32, f = 20 ALIE rows.
//!
//! Prints, per rule, the best-of-N wall time with its spread, the extra peak memory over the
//! input, and the ratio to one read pass over the matrix (the memory-bandwidth floor). Writes
//! the identical input to `target/aggregate-bench/updates.npy` (+ `root.npy`) and, when
//! `python3` is available, runs `benches/aggregate_python.py` on it in the same run so the
//! Python libraries' times appear beside ours.
//!
//! `cargo bench -p mithridate-aggregate --bench aggregate` (env `BENCH_N`, `BENCH_D`, `BENCH_F`,
//! `BENCH_REPS` override the sizes; `BENCH_RULES=median,krum` runs a subset; `BENCH_SKIP_PYTHON=1`
//! skips the Python side).

use mithridate_aggregate::{read_pass, Round, RoundState, Rule, RuleConfig, Updates};
use npyz::WriterBuilder;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Honest rows `N(mu_j, sigma_j)`; Byzantine rows all equal to `mean_j - z std_j` of the honest
/// rows (ALIE, Baruch et al. 2019, with z = 1), placed at random positions.
fn alie_input(n: usize, d: usize, f: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mu: Vec<f32> = (0..d)
        .map(|_| Normal::new(0.0f32, 0.01).unwrap().sample(&mut rng))
        .collect();
    let sigma: Vec<f32> = (0..d)
        .map(|_| 0.01 + 0.02 * rand::Rng::random::<f32>(&mut rng))
        .collect();
    let mut x = vec![0.0f32; n * d];
    x.par_chunks_mut(d)
        .enumerate()
        .take(n - f)
        .for_each(|(i, row)| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ (1000 + i as u64));
            let z = Normal::new(0.0f32, 1.0).unwrap();
            for ((v, m), s) in row.iter_mut().zip(&mu).zip(&sigma) {
                *v = m + s * z.sample(&mut rng);
            }
        });
    let h = (n - f) as f64;
    let byz: Vec<f32> = (0..d)
        .into_par_iter()
        .map(|j| {
            let (mut s, mut s2) = (0.0f64, 0.0f64);
            for i in 0..n - f {
                let v = x[i * d + j] as f64;
                s += v;
                s2 += v * v;
            }
            let mean = s / h;
            let std = (s2 / h - mean * mean).max(0.0).sqrt();
            (mean - std) as f32
        })
        .collect();
    for i in n - f..n {
        x[i * d..(i + 1) * d].copy_from_slice(&byz);
    }
    // Shuffle rows so attackers are not simply the last ones.
    let mut order: Vec<usize> = (0..n).collect();
    rand::seq::SliceRandom::shuffle(order.as_mut_slice(), &mut rng);
    let mut shuffled = vec![0.0f32; n * d];
    shuffled
        .par_chunks_mut(d)
        .zip(order.par_iter())
        .for_each(|(dst, &src)| {
            dst.copy_from_slice(&x[src * d..(src + 1) * d]);
        });
    shuffled
}

fn write_npy(path: &Path, data: &[f32], shape: &[u64]) -> std::io::Result<()> {
    let tmp = path.with_extension("npy.tmp");
    {
        let file = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        let mut writer = npyz::WriteOptions::new()
            .default_dtype()
            .shape(shape)
            .writer(file)
            .begin_nd()?;
        writer.extend(data.iter().copied())?;
        writer.finish()?;
    }
    std::fs::rename(tmp, path)
}

/// Peak-RSS tracking: reset the high-water mark, read it back after the run.
fn reset_peak() {
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/clear_refs")
    {
        let _ = f.write_all(b"5");
    }
}
fn status_kib(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

struct Timing {
    best: f64,
    median: f64,
    worst: f64,
    extra_mib: Option<f64>,
}

fn time_it(reps: usize, mut run: impl FnMut()) -> Timing {
    run(); // warm-up (page faults, thread pool)
    let base = status_kib("VmRSS:");
    reset_peak();
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        run();
        times.push(t.elapsed().as_secs_f64());
    }
    let peak = status_kib("VmHWM:");
    times.sort_by(f64::total_cmp);
    Timing {
        best: times[0],
        median: times[times.len() / 2],
        worst: times[times.len() - 1],
        extra_mib: match (base, peak) {
            (Some(b), Some(p)) => Some(p.saturating_sub(b) as f64 / 1024.0),
            _ => None,
        },
    }
}

/// Python libraries' fastest times measured on this machine for n=100, d=1e6, f=20 (from the
/// issue), used when Python cannot be run here.
const PYTHON_MEASURED: [(&str, f64); 9] = [
    ("fedavg", 0.032),
    ("median", 1.63),
    ("trimmed-mean", 0.58),
    ("krum", 1.89),
    ("multi-krum", 1.67),
    ("bulyan", 9.9),
    ("geomed", 3.66),
    ("centered-clipping", 1.6),
    ("fltrust", 0.53),
];

fn main() {
    let n = env_or("BENCH_N", 100);
    let d = env_or("BENCH_D", 1_000_000);
    let f = env_or("BENCH_F", 20);
    let reps = env_or("BENCH_REPS", 5);
    println!(
        "input: n = {n}, d = {d}, f = {f} (ALIE rows), f32, {:.0} MB; {} rayon threads",
        (n * d * 4) as f64 / 1e6,
        rayon::current_num_threads()
    );
    let rows = alie_input(n, d, f, 20261125);
    let root: Vec<f32> = {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        (0..d)
            .map(|_| Normal::new(0.0f32, 0.01).unwrap().sample(&mut rng))
            .collect()
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/aggregate-bench");
    let npy = dir.join("updates.npy");
    let root_npy = dir.join("root.npy");
    if let Err(e) = std::fs::create_dir_all(&dir)
        .and_then(|_| write_npy(&npy, &rows, &[n as u64, d as u64]))
        .and_then(|_| write_npy(&root_npy, &root, &[d as u64]))
    {
        eprintln!("could not write {}: {e}", npy.display());
    }
    let u = Updates::new(&rows, n, d).expect("generated input is valid");

    let bound = time_it(reps.max(10), || {
        std::hint::black_box(read_pass(&u));
    });
    println!(
        "memory-bandwidth bound (one read pass): best {:.1} ms, median {:.1} ms => {:.1} GB/s",
        bound.best * 1e3,
        bound.median * 1e3,
        (n * d * 4) as f64 / bound.best / 1e9
    );

    let rules = [
        "fedavg",
        "median",
        "trimmed-mean",
        "krum",
        "multi-krum",
        "bulyan",
        "geomed",
        "centered-clipping",
        "fltrust",
        "foolsgold",
        "norm-bound",
        "flame",
        "nnm+median",
    ];
    let only: Option<Vec<String>> = std::env::var("BENCH_RULES")
        .ok()
        .map(|v| v.split(',').map(str::to_string).collect());
    let mut table = Vec::new();
    for name in rules {
        if only.as_ref().is_some_and(|o| !o.iter().any(|r| r == name)) {
            continue;
        }
        let rule: Rule = name.parse().expect("known rule");
        let byzantine = if rule == Rule::FedAvg { 0 } else { f };
        let mut config = RuleConfig::new(rule.clone(), byzantine);
        if rule == Rule::GeoMed {
            // Converge fully (our iterations are O(n^2) on the Gram matrix).
            config.tolerance = Some(1e-7);
        }
        let agg = config.build().expect("valid config");
        let round = if rule == Rule::FlTrust {
            Round::new(u).with_root(&root).expect("root valid")
        } else {
            Round::new(u)
        };
        let slow = matches!(rule, Rule::Bulyan | Rule::Nnm(_) | Rule::FoolsGold);
        let t = time_it(if slow { reps.min(3) } else { reps }, || {
            let mut state = RoundState::default();
            std::hint::black_box(agg.aggregate(&round, &mut state).expect("aggregation runs"));
        });
        table.push((name, t));
    }
    println!();
    println!(
        "{:<18} {:>9} {:>9} {:>9} {:>8} {:>10} {:>10} {:>9}",
        "rule", "best ms", "median", "worst", "x bound", "extra MiB", "python s", "speedup"
    );
    for (name, t) in &table {
        let py = PYTHON_MEASURED
            .iter()
            .find(|(p, _)| p == name)
            .map(|(_, s)| *s);
        println!(
            "{:<18} {:>9.1} {:>9.1} {:>9.1} {:>8.1} {:>10} {:>10} {:>9}",
            name,
            t.best * 1e3,
            t.median * 1e3,
            t.worst * 1e3,
            t.best / bound.best,
            t.extra_mib.map_or("?".into(), |m| format!("{m:.0}")),
            py.map_or("-".into(), |s| format!("{s:.3}")),
            py.map_or("-".into(), |s| format!("{:.0}x", s / t.best)),
        );
    }
    println!("(python s: fastest of byzfl 0.0.11 / flwr 1.42 / NumPy measured on this machine for the issue; input {} MiB)", n * d * 4 / (1 << 20));

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/aggregate_python.py");
    if std::env::var_os("BENCH_SKIP_PYTHON").is_none() {
        println!(
            "\nPython libraries on the identical file ({}):",
            npy.display()
        );
        match std::process::Command::new("python3")
            .arg(&script)
            .arg(&npy)
            .arg(&root_npy)
            .arg(f.to_string())
            .status()
        {
            Ok(s) if s.success() => {}
            Ok(s) => println!("python benchmark exited with {s}"),
            Err(e) => println!("python3 not runnable ({e}); skipped"),
        }
    }
}
