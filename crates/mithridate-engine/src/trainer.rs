//! The training fast path of the dense and image models: mini-batch gradients by the
//! hand-written backpropagation of [`crate::backprop`], batch-parallel on rayon, with every
//! buffer allocated once per [`crate::Classifier::fit`] and reused across steps.
//!
//! A batch is cut into tasks of a fixed number of samples (not a number derived from the thread
//! count); each task runs forward and backward for its samples into its own gradient buffer,
//! and the buffers are summed element by element in task order. Every sum therefore happens in
//! the same order whatever the number of threads, so the same seed gives the same model bytes
//! on 1 or 2 (or any number of) threads.
//!
//! Within a task, convolutions run one image at a time (their buffers stay in cache) and the
//! fully connected head runs once on the task's samples (one GEMM per layer and direction).

use rayon::prelude::*;

use crate::backprop::{
    conv_pool_relu_backward_gemm, conv_pool_relu_forward, linear_backward, linear_forward,
    margin_grad, relu_mask, reorder_kernel, softmax_cross_entropy_grad, ConvWork,
};
use crate::conv::ConvPool;
use crate::infer::Patches;
use crate::network::Network;
use crate::optim::OptimizerState;
use crate::sparse_conv::conv_pool_relu_backward_sparse;

/// Samples per task. CNN tasks keep a few images' activations in cache; dense tasks are larger
/// so each GEMM reuses its packed weights over more rows, yet a batch of 64 still splits in two.
const CNN_TASK_SAMPLES: usize = 16;
const DENSE_TASK_SAMPLES: usize = 32;

/// What a backward pass differentiates, per sample against its label.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Objective {
    /// The cross-entropy, times this scale (one over the batch size in training).
    CrossEntropy(f32),
    /// The logit margin `logit_y - max_{j != y} logit_j` (unscaled).
    Margin,
    /// The summed cross-entropy with each sample's parameter gradient clipped to this L2 norm
    /// (DP-SGD; see [`dp`]).
    ClippedCrossEntropy(f32),
}

/// The layers the fast path trains (borrowed from the [`Network`]).
enum Body<'a> {
    /// Only fully connected layers: `sizes` from input width to classes.
    Dense { sizes: &'a [usize] },
    /// Two convolution + pooling + ReLU stages (`conv2` channel-last), then the dense head
    /// `sizes` (from the flattened pooled map to classes).
    Cnn {
        convs: [&'a ConvPool; 2],
        sizes: Vec<usize>,
    },
}

impl Body<'_> {
    fn head_sizes(&self) -> &[usize] {
        match self {
            Body::Dense { sizes } => sizes,
            Body::Cnn { sizes, .. } => sizes,
        }
    }

    /// Index of the first dense layer's weight in the parameter list.
    fn head_first_param(&self) -> usize {
        match self {
            Body::Dense { .. } => 0,
            Body::Cnn { .. } => 4,
        }
    }
}

/// One task's buffers: its gradient (all parameters, flat; the second kernel's in tap order
/// `(i, j, in)`), its loss sum, and every activation its backward reads.
#[derive(Default)]
struct TaskWork {
    grad: Vec<f32>,
    loss: f64,
    conv: [ConvWork; 2],
    /// Per image: first stage output `(h/2 w/2, 16)` and its pooling choices.
    mid: Vec<f32>,
    mid_arg: Vec<u8>,
    feat_arg: Vec<u8>,
    /// Gradient of one image's first stage output.
    d_mid: Vec<f32>,
    /// One image channel-last and its gradient (input gradients only: the first stage's
    /// input backward is the channel-last sparse one).
    image_hwc: Vec<f32>,
    d_image_hwc: Vec<f32>,
    /// Dense head activations: `acts[0]` its input (rows of the task), `acts[l + 1]` layer
    /// `l`'s output (after ReLU except for the logits).
    acts: Vec<Vec<f32>>,
    /// Output gradient of the current layer and input gradient of it.
    d_out: Vec<f32>,
    d_in: Vec<f32>,
    /// Each sample's unclipped gradient norm (clipped objectives only).
    norms: Vec<f32>,
}

/// A dense-layer observer: `(layer, its input rows, its output gradient rows)`.
type DenseHook<'h> = &'h mut dyn FnMut(usize, &[f32], &[f32]);
/// A per-image observer: `(sample, the convolutions' gradient)`.
type ImageHook<'h> = &'h mut dyn FnMut(usize, &mut [f32]);

/// Observers of [`TaskWork::backward`] (none by default).
#[derive(Default)]
struct Hooks<'h> {
    /// Called with `(layer, its input rows, its output gradient rows)` for each dense layer,
    /// last layer first.
    dense: Option<DenseHook<'h>>,
    /// Called with `(sample, the convolutions' gradient)` after each image's convolution
    /// backward (not when input gradients are asked for); what it leaves there is summed.
    image: Option<ImageHook<'h>>,
}

/// Mini-batch gradients of one network, with the buffers of a fit.
pub(crate) struct FastTrainer<'a> {
    body: Body<'a>,
    /// Parameter tensor sizes and their offsets in flat gradient buffers.
    sizes: Vec<usize>,
    offsets: Vec<usize>,
    task_samples: usize,
    tasks: Vec<TaskWork>,
    /// The summed gradient, kernels in PyTorch layout.
    grad: Vec<f32>,
    /// The second kernel reordered to channel-last taps.
    conv2_hwc: Vec<f32>,
    /// The first kernel reordered likewise (input gradients only).
    conv1_hwc: Vec<f32>,
    /// Where [`FastTrainer::optimizer_step`] writes the updated weights.
    updated: Vec<Vec<f32>>,
}

impl<'a> FastTrainer<'a> {
    /// A trainer for `network` (`None` for the text model, which trains through autodiff),
    /// with buffers for batches of at most `batch` samples.
    pub fn new(network: &'a Network, batch: usize) -> Option<FastTrainer<'a>> {
        let (body, task_samples) = match network {
            Network::Dense { sizes } => (Body::Dense { sizes }, DENSE_TASK_SAMPLES),
            Network::Cnn {
                conv1,
                conv2,
                pooled,
                classes,
                ..
            } => {
                let flat = pooled.0 * pooled.1 * conv2.out_channels;
                let hidden = network.embedding_dim();
                let sizes = vec![flat, hidden, *classes];
                let convs = [conv1, conv2];
                (Body::Cnn { convs, sizes }, CNN_TASK_SAMPLES)
            }
            Network::Text { .. } => return None,
        };
        let sizes: Vec<usize> = network.specs().iter().map(|s| s.numel()).collect();
        let offsets = sizes
            .iter()
            .scan(0, |acc, &n| {
                let at = *acc;
                *acc += n;
                Some(at)
            })
            .collect();
        let total: usize = sizes.iter().sum();
        let task_count = batch.div_ceil(task_samples).max(1);
        let tasks = (0..task_count)
            .map(|_| TaskWork::new(&body, task_samples, total))
            .collect();
        let conv2_hwc = match &body {
            Body::Cnn { convs, .. } => vec![0.0; convs[1].fan_in() * convs[1].out_channels],
            Body::Dense { .. } => Vec::new(),
        };
        Some(FastTrainer {
            body,
            sizes,
            offsets,
            task_samples,
            tasks,
            grad: vec![0.0; total],
            conv2_hwc,
            conv1_hwc: Vec::new(),
            updated: Vec::new(),
        })
    }

    /// Gradient of the mean cross-entropy over the samples `rows` of `inputs` (row-major,
    /// `sample_len` values each) with labels `labels`, at parameters `params` (in
    /// [`Network::specs`] order). Returns the mean loss and keeps each tensor's gradient in
    /// the trainer (read by the tests through `gradient`, which exists only under `cfg(test)`).
    pub fn step(
        &mut self,
        params: &[Vec<f32>],
        inputs: &[f32],
        rows: &[usize],
        labels: &[u32],
    ) -> f64 {
        let objective = Objective::CrossEntropy(1.0 / rows.len() as f32);
        self.accumulate(params, (inputs, rows, labels), objective) / rows.len() as f64
    }

    /// The gradient of the summed `objective` over `rows` into `self.grad` (zero for no rows);
    /// returns the objective's sum.
    fn accumulate(
        &mut self,
        params: &[Vec<f32>],
        (inputs, rows, labels): (&[f32], &[usize], &[u32]),
        objective: Objective,
    ) -> f64 {
        if rows.is_empty() {
            self.grad.fill(0.0);
            return 0.0;
        }
        if let Body::Cnn { convs, .. } = &self.body {
            reorder_kernel(convs[1], &params[2], &mut self.conv2_hwc, true);
        }
        let used = rows.len().div_ceil(self.task_samples);
        if self.tasks.len() < used {
            let total = self.grad.len();
            let (body, task) = (&self.body, self.task_samples);
            self.tasks
                .resize_with(used, || TaskWork::new(body, task, total));
        }
        let (body, conv2_hwc) = (&self.body, &self.conv2_hwc);
        let offsets = &self.offsets;
        self.tasks[..used]
            .par_iter_mut()
            .zip(rows.par_chunks(self.task_samples))
            .zip(labels.par_chunks(self.task_samples))
            .for_each(|((work, rows), labels)| {
                let kernels = (conv2_hwc.as_slice(), &[][..]);
                work.run(
                    body,
                    params,
                    kernels,
                    offsets,
                    (inputs, rows, labels),
                    objective,
                    None,
                );
            });
        // Element-wise sums in task order: independent of which thread ran which task.
        let tasks = &self.tasks[..used];
        const REDUCE_CHUNK: usize = 4096;
        self.grad
            .par_chunks_mut(REDUCE_CHUNK)
            .enumerate()
            .for_each(|(c, out)| {
                let at = c * REDUCE_CHUNK;
                out.copy_from_slice(&tasks[0].grad[at..at + out.len()]);
                for t in &tasks[1..] {
                    for (o, g) in out.iter_mut().zip(&t.grad[at..]) {
                        *o += g;
                    }
                }
            });
        if let Body::Cnn { convs, .. } = &self.body {
            let range = self.offsets[2]..self.offsets[2] + self.sizes[2];
            let hwc = self.grad[range.clone()].to_vec();
            reorder_kernel(convs[1], &hwc, &mut self.grad[range], false);
        }
        tasks.iter().map(|t| t.loss).sum::<f64>()
    }

    /// One optimizer step on `weights` (flat, in [`Network::specs`] order) from the mean loss
    /// of `rows`; returns that loss, or NaN when the loss or the updated weights are not
    /// finite, leaving `weights` as they were (the update goes to a second set of buffers that
    /// is swapped in only when finite).
    pub fn optimizer_step(
        &mut self,
        weights: &mut [Vec<f32>],
        optimizer: &mut OptimizerState,
        (inputs, rows, labels): (&[f32], &[usize], &[u32]),
    ) -> f64 {
        let loss = self.step(weights, inputs, rows, labels);
        if !loss.is_finite() || !self.apply(weights, optimizer) {
            return f64::NAN;
        }
        loss
    }

    /// The optimizer's update of `weights` from `self.grad`; false (leaving `weights` as they
    /// were) when the updated weights are not finite.
    fn apply(&mut self, weights: &mut [Vec<f32>], optimizer: &mut OptimizerState) -> bool {
        optimizer.begin_step();
        self.updated.resize_with(weights.len(), Vec::new);
        let mut finite = true;
        for (i, (w, updated)) in weights.iter().zip(&mut self.updated).enumerate() {
            updated.resize(w.len(), 0.0);
            let grad = &self.grad[self.offsets[i]..self.offsets[i] + self.sizes[i]];
            finite &= optimizer.update_into(i, w, grad, updated);
        }
        if finite {
            for (w, updated) in weights.iter_mut().zip(&mut self.updated) {
                std::mem::swap(w, updated);
            }
        }
        finite
    }

    /// Gradient of parameter tensor `index` from the last [`FastTrainer::step`].
    #[cfg(test)]
    pub fn gradient(&self, index: usize) -> &[f32] {
        &self.grad[self.offsets[index]..self.offsets[index] + self.sizes[index]]
    }
}

impl TaskWork {
    fn new(body: &Body<'_>, task: usize, total: usize) -> TaskWork {
        let head = body.head_sizes();
        let mut work = TaskWork {
            grad: vec![0.0; total],
            acts: head.iter().map(|&w| vec![0.0; task * w]).collect(),
            ..TaskWork::default()
        };
        if let Body::Cnn { convs, .. } = body {
            let mid = convs[0].out_h * convs[0].out_w * convs[0].out_channels;
            work.mid = vec![0.0; task * mid];
            work.mid_arg = vec![0; task * mid];
            work.d_mid = vec![0.0; mid];
            work.feat_arg = vec![0; task * head[0]];
        }
        work
    }

    /// Forward and backward of one task's samples into `self.grad` (overwritten) and
    /// `self.loss`, the sum of `objective` over the samples.
    /// `kernels` are the second and (where `d_inputs` is wanted) the first convolution
    /// kernels in channel-last tap order. With `d_inputs` (`rows.len() * sample_len`), the
    /// gradient with respect to each input is written there, and the first kernel's gradient
    /// in `self.grad` is left meaningless.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        body: &Body<'_>,
        params: &[Vec<f32>],
        (conv2_hwc, conv1_hwc): (&[f32], &[f32]),
        offsets: &[usize],
        (inputs, rows, labels): (&[f32], &[usize], &[u32]),
        objective: Objective,
        d_inputs: Option<&mut [f32]>,
    ) {
        let n = rows.len();
        let head = body.head_sizes();
        let first = body.head_first_param();
        // Forward.
        match body {
            Body::Dense { sizes } => {
                let w = sizes[0];
                for (dst, &r) in self.acts[0].chunks_exact_mut(w).zip(rows) {
                    dst.copy_from_slice(&inputs[r * w..(r + 1) * w]);
                }
            }
            Body::Cnn { convs, .. } => {
                let [c1, c2] = *convs;
                let per = c1.in_channels * c1.in_h * c1.in_w;
                let mid_len = self.d_mid.len();
                let feat_len = head[0];
                for (s, &r) in rows.iter().enumerate() {
                    let image = &inputs[r * per..(r + 1) * per];
                    let mid = &mut self.mid[s * mid_len..(s + 1) * mid_len];
                    let mid_arg = &mut self.mid_arg[s * mid_len..(s + 1) * mid_len];
                    let (w1, b1) = (&params[0], &params[1]);
                    let layout = Patches::ChannelFirst;
                    conv_pool_relu_forward(
                        c1,
                        w1,
                        b1,
                        image,
                        layout,
                        &mut self.conv[0],
                        mid,
                        mid_arg,
                    );
                    let feat = &mut self.acts[0][s * feat_len..(s + 1) * feat_len];
                    let feat_arg = &mut self.feat_arg[s * feat_len..(s + 1) * feat_len];
                    let layout = Patches::ChannelLast;
                    conv_pool_relu_forward(
                        c2,
                        conv2_hwc,
                        &params[3],
                        mid,
                        layout,
                        &mut self.conv[1],
                        feat,
                        feat_arg,
                    );
                }
            }
        }
        let layers = head.len() - 1;
        for l in 0..layers {
            let (done, rest) = self.acts.split_at_mut(l + 1);
            let x = &done[l][..n * head[l]];
            let y = &mut rest[0][..n * head[l + 1]];
            let p = (&params[first + 2 * l][..], &params[first + 2 * l + 1][..]);
            linear_forward(x, p, y, l + 1 < layers);
        }
        // Loss and backward through the dense head.
        self.d_out.clear();
        self.d_out
            .extend_from_slice(&self.acts[layers][..n * head[layers]]);
        self.loss = match objective {
            Objective::CrossEntropy(scale) => {
                softmax_cross_entropy_grad(&mut self.d_out, labels, scale)
            }
            Objective::Margin => margin_grad(&mut self.d_out, labels),
            Objective::ClippedCrossEntropy(clip) => {
                let loss = softmax_cross_entropy_grad(&mut self.d_out, labels, 1.0);
                self.clip_logit_rows(body, params, conv2_hwc, offsets, (inputs, rows), clip);
                loss
            }
        };
        let kernels = (conv2_hwc, conv1_hwc);
        let batch = (inputs, rows);
        self.backward(
            body,
            params,
            kernels,
            offsets,
            batch,
            d_inputs,
            Hooks::default(),
        );
    }

    /// Backward from the logit gradient in `self.d_out` (the task's `rows.len()` rows) into
    /// `self.grad`, through the dense head (one GEMM per layer) and then the convolutions image
    /// by image. `hooks` see each dense layer's input and output gradient, and each image's own
    /// convolution gradient (which they may read and zero; it is then not summed).
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &mut self,
        body: &Body<'_>,
        params: &[Vec<f32>],
        (conv2_hwc, conv1_hwc): (&[f32], &[f32]),
        offsets: &[usize],
        (inputs, rows): (&[f32], &[usize]),
        mut d_inputs: Option<&mut [f32]>,
        mut hooks: Hooks<'_>,
    ) {
        let n = rows.len();
        let head = body.head_sizes();
        let first = body.head_first_param();
        let layers = head.len() - 1;
        // Only the convolutions accumulate (image by image); the dense layers' gradients are
        // written whole by one GEMM per task. Input gradients need no parameter gradients,
        // so those passes skip them (about half the backward's work).
        let param_grads = d_inputs.is_none();
        if param_grads {
            self.grad[..offsets[first]].fill(0.0);
        }
        let has_convs = matches!(body, Body::Cnn { .. });
        for l in (0..layers).rev() {
            let (wi, bi) = (first + 2 * l, first + 2 * l + 1);
            let (before, after) = self.grad.split_at_mut(offsets[bi]);
            let d_weight = &mut before[offsets[wi]..];
            let d_bias = &mut after[..head[l + 1]];
            let need_dx = l > 0 || has_convs || d_inputs.is_some();
            self.d_in.resize(n * head[l], 0.0);
            let d_x = need_dx.then_some(&mut self.d_in[..]);
            if let Some(hook) = hooks.dense.as_mut() {
                hook(l, &self.acts[l][..n * head[l]], &self.d_out);
            }
            linear_backward(
                &self.acts[l][..n * head[l]],
                &params[wi],
                &self.d_out,
                head[l + 1],
                param_grads.then_some((d_weight, d_bias)),
                d_x,
            );
            if need_dx {
                if l > 0 {
                    relu_mask(&self.acts[l][..n * head[l]], &mut self.d_in);
                }
                std::mem::swap(&mut self.d_out, &mut self.d_in);
            }
        }
        if let (Body::Dense { sizes }, Some(d_inputs)) = (body, d_inputs.as_deref_mut()) {
            d_inputs.copy_from_slice(&self.d_out[..n * sizes[0]]);
        }
        // Backward through the convolutions, image by image (`d_out` is the flattened
        // pooled map's gradient; the stage's ReLU mask is applied inside).
        if let Body::Cnn { convs, .. } = body {
            let [c1, c2] = *convs;
            let per = c1.in_channels * c1.in_h * c1.in_w;
            let mid_len = self.d_mid.len();
            let feat_len = head[0];
            for (s, &r) in rows.iter().enumerate() {
                let (g01, g23) = self.grad.split_at_mut(offsets[2]);
                let (dw1, db1) = g01.split_at_mut(offsets[1]);
                let (dw2, rest) = g23.split_at_mut(offsets[3] - offsets[2]);
                let db2 = &mut rest[..c2.out_channels];
                let image = &inputs[r * per..(r + 1) * per];
                let mid = &self.mid[s * mid_len..(s + 1) * mid_len];
                let mid_arg = &self.mid_arg[s * mid_len..(s + 1) * mid_len];
                let feat = &self.acts[0][s * feat_len..(s + 1) * feat_len];
                let feat_arg = &self.feat_arg[s * feat_len..(s + 1) * feat_len];
                let d_feat = &self.d_out[s * feat_len..(s + 1) * feat_len];
                conv_pool_relu_backward_sparse(
                    c2,
                    conv2_hwc,
                    mid,
                    (feat, feat_arg, d_feat),
                    &mut self.conv[1],
                    param_grads.then_some((dw2, db2)),
                    &mut self.d_mid,
                );
                let stage = (mid, mid_arg, &self.d_mid[..]);
                let Some(d_inputs) = d_inputs.as_deref_mut() else {
                    let layout = Patches::ChannelFirst;
                    conv_pool_relu_backward_gemm(
                        c1,
                        image,
                        layout,
                        stage,
                        &mut self.conv[0],
                        (dw1, db1),
                    );
                    if let Some(hook) = hooks.image.as_mut() {
                        hook(s, &mut self.grad[..offsets[first]]);
                    }
                    continue;
                };
                // The input's gradient: the sparse backward on the channel-last image.
                let (c, plane) = (c1.in_channels, c1.in_h * c1.in_w);
                self.image_hwc.resize(per, 0.0);
                self.d_image_hwc.resize(per, 0.0);
                for (p, px) in self.image_hwc.chunks_exact_mut(c).enumerate() {
                    for (ch, v) in px.iter_mut().enumerate() {
                        *v = image[ch * plane + p];
                    }
                }
                conv_pool_relu_backward_sparse(
                    c1,
                    conv1_hwc,
                    &self.image_hwc,
                    stage,
                    &mut self.conv[0],
                    None,
                    &mut self.d_image_hwc,
                );
                let d_image = &mut d_inputs[s * per..(s + 1) * per];
                for (p, px) in self.d_image_hwc.chunks_exact(c).enumerate() {
                    for (ch, v) in px.iter().enumerate() {
                        d_image[ch * plane + p] = *v;
                    }
                }
            }
        }
    }
}

mod dp;
pub(crate) use dp::DpStep;
mod input_grad;
#[cfg(test)]
mod tests;
