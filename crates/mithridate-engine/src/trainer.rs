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
    relu_mask, reorder_kernel, softmax_cross_entropy_grad, ConvWork,
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
    /// Dense head activations: `acts[0]` its input (rows of the task), `acts[l + 1]` layer
    /// `l`'s output (after ReLU except for the logits).
    acts: Vec<Vec<f32>>,
    /// Output gradient of the current layer and input gradient of it.
    d_out: Vec<f32>,
    d_in: Vec<f32>,
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
            updated: Vec::new(),
        })
    }

    /// Gradient of the mean cross-entropy over the samples `rows` of `inputs` (row-major,
    /// `sample_len` values each) with labels `labels`, at parameters `params` (in
    /// [`Network::specs`] order). Returns the mean loss; [`FastTrainer::gradient`] then gives
    /// each tensor's gradient.
    pub fn step(
        &mut self,
        params: &[Vec<f32>],
        inputs: &[f32],
        rows: &[usize],
        labels: &[u32],
    ) -> f64 {
        let scale = 1.0 / rows.len() as f32;
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
                work.run(
                    body,
                    params,
                    conv2_hwc,
                    offsets,
                    (inputs, rows, labels),
                    scale,
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
        tasks.iter().map(|t| t.loss).sum::<f64>() / rows.len() as f64
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
        if !loss.is_finite() {
            return loss;
        }
        optimizer.begin_step();
        self.updated.resize_with(weights.len(), Vec::new);
        let mut finite = true;
        for (i, (w, updated)) in weights.iter().zip(&mut self.updated).enumerate() {
            updated.resize(w.len(), 0.0);
            let grad = &self.grad[self.offsets[i]..self.offsets[i] + self.sizes[i]];
            finite &= optimizer.update_into(i, w, grad, updated);
        }
        if !finite {
            return f64::NAN;
        }
        for (w, updated) in weights.iter_mut().zip(&mut self.updated) {
            std::mem::swap(w, updated);
        }
        loss
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
    /// `self.loss`, the loss gradient scaled by `scale` (one over the batch size).
    fn run(
        &mut self,
        body: &Body<'_>,
        params: &[Vec<f32>],
        conv2_hwc: &[f32],
        offsets: &[usize],
        (inputs, rows, labels): (&[f32], &[usize], &[u32]),
        scale: f32,
    ) {
        let n = rows.len();
        let head = body.head_sizes();
        let first = body.head_first_param();
        // Only the convolutions accumulate (image by image); the dense layers' gradients are
        // written whole by one GEMM per task.
        self.grad[..offsets[first]].fill(0.0);
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
        self.loss = softmax_cross_entropy_grad(&mut self.d_out, labels, scale);
        let has_convs = matches!(body, Body::Cnn { .. });
        for l in (0..layers).rev() {
            let (wi, bi) = (first + 2 * l, first + 2 * l + 1);
            let (before, after) = self.grad.split_at_mut(offsets[bi]);
            let d_weight = &mut before[offsets[wi]..];
            let d_bias = &mut after[..head[l + 1]];
            let need_dx = l > 0 || has_convs;
            self.d_in.resize(n * head[l], 0.0);
            let d_x = need_dx.then_some(&mut self.d_in[..]);
            linear_backward(
                &self.acts[l][..n * head[l]],
                &params[wi],
                &self.d_out,
                (d_weight, d_bias),
                d_x,
            );
            if need_dx {
                if l > 0 {
                    relu_mask(&self.acts[l][..n * head[l]], &mut self.d_in);
                }
                std::mem::swap(&mut self.d_out, &mut self.d_in);
            }
        }
        // Backward through the convolutions, image by image (`d_out` is the flattened
        // pooled map's gradient; the stage's ReLU mask is applied inside).
        if let Body::Cnn { convs, .. } = body {
            let [c1, c2] = *convs;
            let per = c1.in_channels * c1.in_h * c1.in_w;
            let mid_len = self.d_mid.len();
            let feat_len = head[0];
            let (g01, g23) = self.grad.split_at_mut(offsets[2]);
            let (dw1, db1) = g01.split_at_mut(offsets[1]);
            let (dw2, rest) = g23.split_at_mut(offsets[3] - offsets[2]);
            let db2 = &mut rest[..c2.out_channels];
            for (s, &r) in rows.iter().enumerate() {
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
                    (dw2, db2),
                    &mut self.d_mid,
                );
                conv_pool_relu_backward_gemm(
                    c1,
                    image,
                    Patches::ChannelFirst,
                    (mid, mid_arg, &self.d_mid),
                    &mut self.conv[0],
                    (dw1, db1),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};
    use mithridate_data::Modality;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::network::cross_entropy;
    use crate::Architecture;

    /// A network with random weights (4x the initialisation's scale, so every layer's output
    /// varies a lot), `batch` random inputs in [-1, 1] (no tied pooling maxima) and labels.
    fn problem(
        arch: Architecture,
        modality: &Modality,
        batch: usize,
    ) -> (Network, Vec<Vec<f32>>, Vec<f32>, Vec<u32>) {
        let classes = 10;
        let network = Network::new(arch, modality, classes);
        let mut rng = ChaCha8Rng::seed_from_u64(batch as u64);
        let params = network
            .init(7)
            .into_iter()
            .map(|p| p.into_iter().map(|v| 4.0 * v).collect())
            .collect();
        let inputs = (0..batch * modality.sample_len())
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let labels = (0..batch)
            .map(|_| rng.random_range(0..classes as u32))
            .collect();
        (network, params, inputs, labels)
    }

    /// Mean loss and per-tensor gradients from candle autodiff of the network's forward.
    fn autodiff(
        network: &Network,
        params: &[Vec<f32>],
        inputs: &[f32],
        labels: &[u32],
    ) -> (f64, Vec<Vec<f32>>) {
        let dev = Device::Cpu;
        let vars: Vec<Var> = params
            .iter()
            .zip(network.specs())
            .map(|(v, s)| Var::from_slice(v, s.shape.as_slice(), &dev).unwrap())
            .collect();
        let tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let x =
            Tensor::from_slice(inputs, (labels.len(), inputs.len() / labels.len()), &dev).unwrap();
        let y = Tensor::from_slice(labels, labels.len(), &dev).unwrap();
        let (_, logits) = network.forward(&tensors, &x).unwrap();
        let loss = cross_entropy(&logits, &y).unwrap().mean_all().unwrap();
        let grads = loss.backward().unwrap();
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let g = vars.iter().map(|v| flat(grads.get(v).unwrap())).collect();
        (f64::from(loss.to_scalar::<f32>().unwrap()), g)
    }

    fn fast(
        network: &Network,
        params: &[Vec<f32>],
        inputs: &[f32],
        labels: &[u32],
    ) -> (f64, Vec<Vec<f32>>) {
        let mut trainer = FastTrainer::new(network, labels.len()).expect("fast path");
        let rows: Vec<usize> = (0..labels.len()).collect();
        let loss = trainer.step(params, inputs, &rows, labels);
        (
            loss,
            (0..params.len())
                .map(|i| trainer.gradient(i).to_vec())
                .collect(),
        )
    }

    fn image(channels: usize, height: usize, width: usize) -> Modality {
        Modality::Image {
            channels,
            height,
            width,
        }
    }

    #[test]
    fn gradients_equal_candle_autodiff() {
        let cases = [
            (Architecture::Cnn, image(1, 28, 28), 37),
            (Architecture::Cnn, image(3, 7, 9), 20),
            (Architecture::Cnn, image(2, 4, 5), 3),
            (Architecture::Mlp, Modality::Tabular { features: 13 }, 70),
            (Architecture::LogReg, Modality::Tabular { features: 6 }, 5),
        ];
        for (arch, modality, batch) in cases {
            let (network, params, inputs, labels) = problem(arch, &modality, batch);
            let (want_loss, want) = autodiff(&network, &params, &inputs, &labels);
            let (got_loss, got) = fast(&network, &params, &inputs, &labels);
            assert!(
                (got_loss - want_loss).abs() < 1e-5 * want_loss.max(1.0),
                "{arch} loss {got_loss} vs {want_loss}"
            );
            for (t, (g, w)) in got.iter().zip(&want).enumerate() {
                // Relative to each tensor's largest gradient: sums of up to ~1,600 products per
                // image and 70 images, in a different order.
                let scale = w.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
                for (i, (a, b)) in g.iter().zip(w).enumerate() {
                    assert!((a - b).abs() <= 1e-4 * scale, "{arch} {modality:?} tensor {t}[{i}]: fast {a} vs autodiff {b} (scale {scale})");
                }
            }
        }
    }

    #[test]
    fn cnn_gradients_match_finite_differences() {
        let (network, params, inputs, labels) = problem(Architecture::Cnn, &image(2, 8, 6), 5);
        let (_, grad) = fast(&network, &params, &inputs, &labels);
        let loss_at = |t: usize, i: usize, delta: f32| {
            let mut p = params.clone();
            p[t][i] += delta;
            fast(&network, &p, &inputs, &labels).0
        };
        let eps = 1e-3f32;
        let mut checked = 0;
        for (t, g) in grad.iter().enumerate() {
            // The three largest-magnitude entries of every tensor and its first one.
            let mut order: Vec<usize> = (0..g.len()).collect();
            order.sort_by(|&a, &b| g[b].abs().total_cmp(&g[a].abs()));
            for &i in order.iter().take(3).chain([&0]) {
                let want = (loss_at(t, i, eps) - loss_at(t, i, -eps)) / (2.0 * f64::from(eps));
                let got = f64::from(g[i]);
                assert!(
                    (got - want).abs() < 2e-3 + 0.02 * want.abs(),
                    "tensor {t}[{i}]: {got} vs finite difference {want}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 32);
    }

    #[test]
    fn gradients_do_not_depend_on_the_thread_count() {
        let (network, params, inputs, labels) = problem(Architecture::Cnn, &image(1, 12, 12), 64);
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| fast(&network, &params, &inputs, &labels))
        };
        let one = on(1);
        assert!(one.1.iter().flatten().any(|g| *g != 0.0));
        for threads in [2, 3] {
            let other = on(threads);
            assert_eq!(
                one.0.to_bits(),
                other.0.to_bits(),
                "loss on {threads} threads"
            );
            assert_eq!(one.1, other.1, "gradients on {threads} threads");
        }
    }

    #[test]
    fn text_model_has_no_fast_path() {
        let text = Modality::Text {
            max_len: 4,
            vocab_size: 10,
        };
        let network = Network::new(Architecture::Text, &text, 2);
        assert!(FastTrainer::new(&network, 8).is_none());
    }
}
