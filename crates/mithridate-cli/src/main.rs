//! `mithridate`: attack your own training pipeline, detect the poison, govern retraining.
//!
//! Each subcommand group lives in its own file under `commands/`; adding one is a new file,
//! one enum variant and one match arm here.

mod commands;
mod output;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

// Training allocates and frees many large tensors per batch; glibc's malloc hands each back to
// the kernel (mmap/munmap, page faults, zeroing: ~30% of CNN training time). mimalloc keeps them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "mithridate",
    version,
    about = "Attack, detect and defend against data and model poisoning",
    long_about = "Mithridate attacks your own training pipelines with data and model poisoning, \
detects poisoned data, updates and models, trains and aggregates robustly, and governs retraining.\n\n\
Exit codes: 0 success; 1 a check ran and failed (verdict); 2 invalid arguments or input; \
3 environment failure (registry unreachable, I/O)."
)]
struct Cli {
    /// Random seed for everything stochastic (same seed, same result).
    #[arg(long, global = true, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object on stdout instead of tables; no progress bars.
    #[arg(long, global = true)]
    json: bool,
    #[command(flatten)]
    readers: commands::reader_flags::ReaderFlags,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The main job: an attack x defence assessment (resumable, shardable) and its HTML report.
    Assess(commands::assess::AssessArgs),
    /// The assessment report from result directories: HTML (default), Markdown, CSV or JSON.
    Report(commands::report::ReportArgs),
    /// List, fetch, inspect and export the built-in real datasets.
    #[command(subcommand)]
    Data(commands::data::DataCommand),
    /// Train a classifier and save it as safetensors with a JSON sidecar.
    Train(commands::train::TrainArgs),
    /// Evaluate a saved model: accuracy and a per-class table.
    Evaluate(commands::evaluate::EvaluateArgs),
    /// Write a trained model (logreg, mlp, cnn) as an ONNX classifier for other runtimes.
    Export(commands::export::ExportArgs),
    /// Poison a training set with one attack; writes the .npz and its ground truth.
    Poison(commands::poison::PoisonArgs),
    /// Train a model per poison rate and seed; table of clean accuracy and attack success.
    AttackSweep(commands::sweep::SweepArgs),
    /// Signed dataset manifests: keygen, manifest, sign, verify (against data), diff.
    #[command(subcommand)]
    Provenance(commands::provenance::ProvenanceCommand),
    /// Hash-chained audit log: append, show, verify, trace a model back to its data.
    #[command(subcommand)]
    Audit(commands::audit::AuditCommand),
    /// Aggregate client updates (.npy) with a Byzantine-robust rule; per-client report with --json.
    Aggregate(commands::aggregate::AggregateArgs),
    /// Scan a training set for poisoned samples (data) or inputs for triggers at inference (input).
    #[command(subcommand)]
    Scan(commands::scan::ScanCommand),
    /// Drop (or relabel) the samples a `scan data` run flagged; writes a clean .npz.
    Sanitize(commands::sanitize::SanitizeArgs),
    /// Poison -> train -> scan -> sanitize -> retrain over seeds: accuracy and attack success before/after.
    DefendSweep(commands::defend::DefendSweepArgs),
    /// Simulate federated learning with malicious clients and a robust aggregation rule.
    Fl(commands::fl::FlArgs),
    /// Federated learning over rules x attacks x Byzantine fractions; final accuracy / ASR table.
    FlSweep(commands::fl::FlSweepArgs),
    /// Repair a backdoored model with trusted clean data (fine-pruning, Neural Cleanse unlearning, fine-tuning).
    Repair(commands::repair::RepairArgs),
    /// Retraining gate: candidate vs deployed model on a trusted holdout; JUnit XML, audit log.
    Gate(commands::gate::GateArgs),
    /// Continual retraining under poisoning: ingest, screen, retrain, gate, deploy or block,
    /// monitor and audit over time-ordered batches; `continual trace DIR`, `continual clean DIR`.
    Continual(commands::continual::ContinualArgs),
    /// Differential privacy: epsilon spent by DP-SGD / DP-FedAvg (RDP accountant).
    #[command(subcommand)]
    Privacy(commands::privacy::PrivacyCommand),
    /// Retrieval-corpus (RAG) poisoning: attack success and clean recall at k, with defences.
    #[command(subcommand)]
    Rag(commands::rag::RagCommand),
    /// Backdoors in a text classifier on a frozen MiniLM encoder: CA / ASR, with defences.
    #[command(subcommand)]
    Text(commands::text::TextCommand),
    /// Poisoning a small generative model's training data: backdoor success and perplexity,
    /// with defences.
    #[command(subcommand)]
    Lm(commands::lm::LmCommand),
}

fn main() -> ExitCode {
    // `mithridate ... | head` must end quietly like any Unix tool, not panic in `println!`.
    sigpipe::reset();
    let cli = Cli::parse();
    // Before any thread starts. ONNX models' gradients run part by part on every core, each
    // candle operation on its own thread (mithridate_onnx::row_parts: an exported MNIST CNN's
    // `scan model` 221 s -> 141 s). MiniLM's batches are large enough for candle's own split
    // (text attack on 1,000 texts: 19.2 s with it, 22.7 s without), so the commands that
    // encode text keep it; `lm` sets its own.
    if !matches!(
        cli.command,
        Command::Text(_) | Command::Rag(_) | Command::Assess(_) | Command::Lm(_)
    ) {
        mithridate_onnx::row_parts::one_thread_per_operation();
    }
    // candle re-reads /proc/cpuinfo before every matrix product unless this is set; `lm` sets
    // both variables to 1 itself.
    if !matches!(cli.command, Command::Lm(_)) {
        mithridate_onnx::row_parts::fix_rayon_thread_count();
    }
    let ctx = output::Context::new(cli.seed, cli.json);
    if let Err(err) = cli.readers.apply() {
        eprintln!("error: {}", output::one_line(&err));
        return ExitCode::from(output::exit_code(&err));
    }
    let result = match cli.command {
        Command::Assess(args) => commands::assess::run(args, &ctx),
        Command::Report(args) => commands::report::run(args, &ctx),
        Command::Data(cmd) => commands::data::run(cmd, &ctx),
        Command::Train(args) => commands::train::run(args, &ctx),
        Command::Evaluate(args) => commands::evaluate::run(args, &ctx),
        Command::Export(args) => commands::export::run(args, &ctx),
        Command::Poison(args) => commands::poison::run(args, &ctx),
        Command::AttackSweep(args) => commands::sweep::run(args, &ctx),
        Command::Provenance(cmd) => commands::provenance::run(cmd, &ctx),
        Command::Audit(cmd) => commands::audit::run(cmd, &ctx),
        Command::Aggregate(args) => commands::aggregate::run(args, &ctx),
        Command::Scan(cmd) => commands::scan::run(cmd, &ctx),
        Command::Sanitize(args) => commands::sanitize::run(args, &ctx),
        Command::DefendSweep(args) => commands::defend::run(args, &ctx),
        Command::Fl(args) => commands::fl::run(args, &ctx),
        Command::FlSweep(args) => commands::fl::run_sweep(args, &ctx),
        Command::Repair(args) => commands::repair::run(args, &ctx),
        Command::Gate(args) => commands::gate::run(args, &ctx),
        Command::Continual(args) => commands::continual::run(args, &ctx),
        Command::Privacy(cmd) => commands::privacy::run(cmd, &ctx),
        Command::Rag(cmd) => commands::rag::run(cmd, &ctx),
        Command::Text(cmd) => commands::text::run(cmd, &ctx),
        Command::Lm(cmd) => commands::lm::run(cmd, &ctx),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", output::one_line(&err));
            ExitCode::from(output::exit_code(&err))
        }
    }
}
