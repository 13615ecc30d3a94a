//! Step rules the input-space searches share: Adam on their logits (Neural Cleanse's mask and
//! pattern in [`crate::reverse`], MM-BD's inputs in [`crate::max_margin`]) and Neural Cleanse's
//! early stopping.

/// Early stopping counts a step as progress only when it shrinks the best working mask below
/// this share of the best mask at the last progress (Neural Cleanse's `early_stop_threshold`
/// of 0.99: less than a 1% improvement is no progress).
const EARLY_STOP_IMPROVEMENT: f64 = 0.99;

/// One parameter vector under Adam (Kingma & Ba, 2015).
pub(crate) struct Adam {
    m: Vec<f64>,
    v: Vec<f64>,
    t: i32,
    lr: f64,
}

impl Adam {
    pub(crate) fn new(len: usize, lr: f64) -> Self {
        Adam {
            m: vec![0.0; len],
            v: vec![0.0; len],
            t: 0,
            lr,
        }
    }

    pub(crate) fn step(&mut self, params: &mut [f64], grad: &[f64]) {
        const B1: f64 = 0.9;
        const B2: f64 = 0.999;
        self.t += 1;
        let (c1, c2) = (1.0 - B1.powi(self.t), 1.0 - B2.powi(self.t));
        for i in 0..params.len() {
            self.m[i] = B1 * self.m[i] + (1.0 - B1) * grad[i];
            self.v[i] = B2 * self.v[i] + (1.0 - B2) * grad[i] * grad[i];
            params[i] -= self.lr * (self.m[i] / c1) / ((self.v[i] / c2).sqrt() + 1e-8);
        }
    }
}

/// Neural Cleanse's early stopping (Wang et al. 2019, reference code), adapted to steps: a
/// class stops after `patience` consecutive steps in which the best working mask did not fall
/// below [`EARLY_STOP_IMPROVEMENT`] times its value at the last progress, provided the L1
/// weight was both raised and lowered *since that progress*. The paper's code asks for both
/// moves once, over epochs of many batches; counted in single steps, that let a search stop
/// while λ was still rising from its small start and the mask had not begun to shrink (all ten
/// digits classes stopped near the half-blended start mask, where the success rate hovers at
/// 99% while λ is too small to matter). So here a search stops only after its mask has shrunk
/// at least once since the first working one, and with both moves since the last progress:
/// where λ oscillates around the smallest working mask.
#[derive(Debug)]
pub(crate) struct EarlyStop {
    patience: usize,
    raised: bool,
    lowered: bool,
    reference: f64,
    /// Whether the mask has shrunk by 1% since the first working one (λ has begun to act).
    shrunk: bool,
    idle: usize,
}

impl EarlyStop {
    pub(crate) fn new(patience: usize) -> Self {
        EarlyStop {
            patience,
            raised: false,
            lowered: false,
            reference: f64::INFINITY,
            shrunk: false,
            idle: 0,
        }
    }

    /// Records one adjustment of the L1 weight (raised, or lowered).
    pub(crate) fn adjusted(&mut self, raised: bool) {
        if raised {
            self.raised = true;
        } else {
            self.lowered = true;
        }
    }

    /// Called once per step with the best working mask's norm so far.
    pub(crate) fn should_stop(&mut self, best: Option<f64>) -> bool {
        let Some(best) = best else {
            return false;
        };
        if best < EARLY_STOP_IMPROVEMENT * self.reference {
            self.shrunk = self.reference.is_finite();
            self.reference = best;
            self.idle = 0;
            self.raised = false;
            self.lowered = false;
        } else {
            self.idle += 1;
        }
        self.patience > 0
            && self.shrunk
            && self.raised
            && self.lowered
            && self.idle >= self.patience
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_stop_waits_for_both_adjustments_and_counts_idle_steps() {
        // No working trigger yet: never stops.
        let mut stop = EarlyStop::new(3);
        stop.adjusted(true);
        stop.adjusted(false);
        assert!((0..10).all(|_| !stop.should_stop(None)));
        // 100 -> 99.5 is not a 1% improvement; 98 is (relative to 100, the last progress).
        // Until 98, the mask never shrank since the first working one: never stops.
        let mut stop = EarlyStop::new(3);
        assert!(!stop.should_stop(Some(100.0)));
        stop.adjusted(true);
        stop.adjusted(false);
        assert!((0..10).all(|_| !stop.should_stop(Some(100.0))));
        assert!(!stop.should_stop(Some(99.5)));
        assert!(!stop.should_stop(Some(98.0)));
        // Three idle steps, but the L1 weight was never lowered: keep going.
        stop.adjusted(true);
        for _ in 0..3 {
            assert!(!stop.should_stop(Some(97.5)));
        }
        stop.adjusted(false);
        assert!(stop.should_stop(Some(97.5)));
        // Adjustments before the last progress do not count: 90 resets both.
        assert!(!stop.should_stop(Some(90.0)));
        stop.adjusted(false);
        for _ in 0..5 {
            assert!(!stop.should_stop(Some(90.0)));
        }
        stop.adjusted(true);
        assert!(stop.should_stop(Some(90.0)));
        // Patience 0 never stops.
        let mut stop = EarlyStop::new(0);
        stop.adjusted(true);
        stop.adjusted(false);
        assert!((0..10).all(|_| !stop.should_stop(Some(1.0))));
    }
}
