//! One seeded training run, advanced stage by stage and shared within a scan by the detectors
//! that read per-sample losses during training ([`crate::dynamics`] at every stage,
//! [`crate::loss`] after whole epochs), so a complete scan trains it once.
//!
//! **The run.** A fresh model (the context's [`crate::TrainSpec`] architecture, optimiser and
//! batch size; initialised from the context seed) trains on a stream of seeded permutations of
//! the rows (a ChaCha8 stream of the context seed, one permutation per epoch). The run's pace is
//! `a` epochs per `b` stages (a reduced fraction): stage `t` ends at stream position
//! `floor(n a t / b)`, and each stage's rows are one [`Classifier::fit`] of one epoch on that
//! subset (seeded by the context seed plus the stage's first stream position), continuing from
//! the current weights; a stage that straddles two epochs is two fits, as a repeated row cannot
//! be selected twice into one subset. The optimiser state restarts with each fit.
//!
//! **Sharing without order effects.** The run is a pure function of the context and the pace:
//! a detector asking for stage 4 and another asking for stages 1-8 get the same weights at
//! stage 4 whichever asks first, because every stage's weights are kept (a copy of the model
//! per stage reached) and each stage's losses are computed once, on demand. Memory: one model
//! per stage reached plus `n` losses per stage read.

use std::sync::{Arc, Mutex};

use mithridate_engine::Classifier;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::{DetectError, Result, ScanContext};

/// A run's pace: `epochs` epochs per `stages` stages, stored reduced so equal paces share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pace {
    epochs: usize,
    stages: usize,
}

impl Pace {
    /// `epochs` epochs in `stages` stages (both >= 1).
    pub(crate) fn new(epochs: usize, stages: usize) -> Result<Pace> {
        if epochs == 0 || stages == 0 {
            return Err(DetectError::param(format!(
                "a staged run needs epochs and stages >= 1, got {epochs} and {stages}"
            )));
        }
        let g = gcd(epochs, stages);
        Ok(Pace {
            epochs: epochs / g,
            stages: stages / g,
        })
    }

    /// The stage at which `epochs` whole epochs end, when one does.
    pub(crate) fn stage_after_epochs(self, epochs: usize) -> Option<usize> {
        (epochs * self.stages)
            .is_multiple_of(self.epochs)
            .then(|| epochs * self.stages / self.epochs)
    }

    /// Stream position (rows trained on) at the end of `stage` for `n` rows.
    fn end(self, n: usize, stage: usize) -> usize {
        n * self.epochs * stage / self.stages
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Every sample's cross-entropy after `stage` (1-based) of the context's run at `pace`,
/// computed once per scan.
pub(crate) fn stage_losses(ctx: &ScanContext, pace: Pace, stage: usize) -> Result<Arc<Vec<f32>>> {
    if stage == 0 {
        return Err(DetectError::param("stages are counted from 1"));
    }
    let key = |what: String| format!("staged run {}/{} {what}", pace.epochs, pace.stages);
    ctx.shared(key(format!("losses {stage}")), || {
        let run = ctx.shared(key("weights".into()), || StagedRun::start(ctx, pace))?;
        let model = run.weights_after(ctx, stage)?;
        Ok(model.per_sample_loss(ctx.data())?)
    })
}

/// The run's state; see the [module](self) docs.
struct StagedRun {
    pace: Pace,
    state: Mutex<RunState>,
}

struct RunState {
    model: Classifier,
    rng: ChaCha8Rng,
    permutation: Vec<usize>,
    /// Rows of the stream trained on so far.
    position: usize,
    /// The weights after each stage reached, stage 1 first.
    snapshots: Vec<Arc<Classifier>>,
    /// A stage failed part-way: the weights are between stages and must not be read.
    broken: bool,
}

impl StagedRun {
    fn start(ctx: &ScanContext, pace: Pace) -> Result<StagedRun> {
        let data = ctx.data();
        let spec = ctx.train_spec();
        let model = Classifier::new(
            spec.architecture,
            data.modality(),
            data.num_classes(),
            ctx.seed(),
        )?;
        Ok(StagedRun {
            pace,
            state: Mutex::new(RunState {
                model,
                rng: ChaCha8Rng::seed_from_u64(ctx.seed()),
                permutation: (0..data.len()).collect(),
                position: 0,
                snapshots: Vec::new(),
                broken: false,
            }),
        })
    }

    /// The weights after `stage`, training the stages not reached yet.
    fn weights_after(&self, ctx: &ScanContext, stage: usize) -> Result<Arc<Classifier>> {
        // A panic while training leaves a half-trained stage: later requests must not read it.
        let mut state = self
            .state
            .lock()
            .map_err(|_| DetectError::input("a staged training run failed earlier in this scan"))?;
        if state.broken {
            return Err(DetectError::input(
                "a staged training run failed earlier in this scan",
            ));
        }
        while state.snapshots.len() < stage {
            let reached = state.snapshots.len();
            if let Err(e) = self.train_stage(ctx, &mut state, reached + 1) {
                state.broken = true;
                return Err(e);
            }
        }
        Ok(state.snapshots[stage - 1].clone())
    }

    /// Trains `stage` (the next one) and keeps its weights.
    fn train_stage(&self, ctx: &ScanContext, state: &mut RunState, stage: usize) -> Result<()> {
        let data = ctx.data();
        let n = data.len();
        let mut params = ctx.train_spec().config.params().clone();
        params.epochs = 1;
        let one_pass = params.check()?;
        let end = self.pace.end(n, stage);
        let RunState {
            model,
            rng,
            permutation,
            position,
            snapshots,
            ..
        } = state;
        while *position < end {
            let offset = *position % n;
            if offset == 0 {
                permutation.shuffle(rng);
            }
            let stop = (offset + end - *position).min(n);
            let part = data.select(&permutation[offset..stop])?;
            let part_seed = ctx.seed().wrapping_add(*position as u64);
            model.fit(&part, &one_pass, part_seed, &mut |_| {})?;
            *position += stop - offset;
        }
        snapshots.push(Arc::new(model.try_clone()?));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paces_reduce_and_place_whole_epochs() {
        let p = Pace::new(2, 8).unwrap();
        assert_eq!(p, Pace::new(1, 4).unwrap());
        assert_eq!(p.stage_after_epochs(1), Some(4));
        assert_eq!(p.stage_after_epochs(3), Some(12));
        // 3 epochs in 8 stages: epoch ends fall between stages except at 3.
        let q = Pace::new(3, 8).unwrap();
        assert_eq!(q.stage_after_epochs(1), None);
        assert_eq!(q.stage_after_epochs(3), Some(8));
        // Ends as the unreduced formula floor(n E t / S), e.g. n = 10, E = 2, S = 8.
        assert_eq!(
            (1..=8).map(|t| p.end(10, t)).collect::<Vec<_>>(),
            [2, 5, 7, 10, 12, 15, 17, 20]
        );
        assert!(Pace::new(0, 4).is_err() && Pace::new(1, 0).is_err());
    }
}
