//! Per-sample input gradients through the training fast path: the same hand-written forward
//! and backward as a training step (so the same formulas and tests), run with the loss summed
//! rather than averaged and carried one layer further back, to the input.
//!
//! Trigger reverse-engineering (Neural Cleanse) and other input-space searches call this
//! thousands of times on batches of ~100 images; through candle autodiff each call rebuilds
//! the whole graph and the batch's patch matrices, here it reuses the fit's buffers. The
//! first convolution's input gradient is the sparse backward of [`crate::sparse_conv`] on the
//! channel-last image (for one channel, the image itself).

use rayon::prelude::*;

use super::{Body, FastTrainer, Objective};
use crate::backprop::reorder_kernel;

impl FastTrainer<'_> {
    /// Values per sample of the network's input.
    pub fn sample_len(&self) -> usize {
        match &self.body {
            Body::Dense { sizes } => sizes[0],
            Body::Cnn { convs, .. } => convs[0].in_channels * convs[0].in_h * convs[0].in_w,
        }
    }

    /// For each of `rows` of `inputs`: the gradient of its own `objective` (the unscaled
    /// cross-entropy, or the logit margin) against `targets[i]` with respect to its input,
    /// written to `d_inputs` (`rows.len() * sample_len` values), and its logits, written to
    /// `logits` (`rows.len() * classes`). Tasks split the rows as in [`FastTrainer::step`];
    /// every sample's result depends on that sample only, so it is the same on any number of
    /// threads.
    pub fn input_gradients(
        &mut self,
        params: &[Vec<f32>],
        (inputs, rows, targets): (&[f32], &[usize], &[u32]),
        objective: Objective,
        (d_inputs, logits): (&mut [f32], &mut [f32]),
    ) {
        let per = self.sample_len();
        debug_assert_eq!(d_inputs.len(), rows.len() * per);
        if let Body::Cnn { convs, .. } = &self.body {
            reorder_kernel(convs[1], &params[2], &mut self.conv2_hwc, true);
            self.conv1_hwc
                .resize(convs[0].fan_in() * convs[0].out_channels, 0.0);
            reorder_kernel(convs[0], &params[0], &mut self.conv1_hwc, true);
        }
        let used = rows.len().div_ceil(self.task_samples);
        if self.tasks.len() < used {
            let total = self.grad.len();
            let (body, task) = (&self.body, self.task_samples);
            self.tasks
                .resize_with(used, || super::TaskWork::new(body, task, total));
        }
        let (body, offsets) = (&self.body, &self.offsets);
        let kernels = (self.conv2_hwc.as_slice(), self.conv1_hwc.as_slice());
        let task = self.task_samples;
        self.tasks[..used]
            .par_iter_mut()
            .zip(rows.par_chunks(task))
            .zip(targets.par_chunks(task))
            .zip(d_inputs.par_chunks_mut(task * per))
            .for_each(|(((work, rows), targets), d)| {
                let batch = (inputs, rows, targets);
                work.run(body, params, kernels, offsets, batch, objective, Some(d));
            });
        let head = self.body.head_sizes();
        let (layers, classes) = (head.len() - 1, head[head.len() - 1]);
        for (work, out) in self.tasks[..used]
            .iter()
            .zip(logits.chunks_mut(task * classes))
        {
            out.copy_from_slice(&work.acts[layers][..out.len()]);
        }
    }
}
