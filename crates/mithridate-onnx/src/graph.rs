//! A loaded ONNX graph, checked once at load time (opset, operators, constants) and then
//! evaluated node by node on candle tensors.

use std::collections::HashMap;

use candle_core::Tensor;

use crate::error::{OnnxError, Result};
use crate::ops;
use crate::proto::{self, Node, ValueInfo};
use crate::value::Value;

/// Default-domain opsets whose operator semantics [`ops`] implements.
pub const OPSETS: std::ops::RangeInclusive<i64> = 9..=23;

#[derive(Debug)]
pub struct OnnxGraph {
    pub opset: i64,
    nodes: Vec<Node>,
    constants: HashMap<String, Value>,
    /// The one non-constant graph input (the features).
    pub input: ValueInfo,
    /// The first graph output (the logits).
    pub output: ValueInfo,
}

impl OnnxGraph {
    /// Whether any node of the graph is the (default-domain) operator `op`, e.g. `"Conv"`.
    pub fn uses_operator(&self, op: &str) -> bool {
        self.nodes.iter().any(|n| n.op_type == op)
    }

    /// Decodes and validates a model: a default-domain opset in [`OPSETS`], only
    /// [`ops::SUPPORTED`] operators, exactly one non-initializer input.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let model = proto::parse_model(bytes)?;
        let graph = model.graph.ok_or_else(|| {
            OnnxError::Format("the file has no graph (truncated or not ONNX)".into())
        })?;
        if graph.nodes.is_empty() || graph.outputs.is_empty() {
            return Err(OnnxError::Format(
                "the graph has no nodes or no outputs".into(),
            ));
        }
        let opset = model
            .opsets
            .iter()
            .find(|(d, _)| d.is_empty() || d == "ai.onnx")
            .map(|&(_, v)| v)
            .ok_or_else(|| OnnxError::Format("no default-domain opset_import".into()))?;
        if !OPSETS.contains(&opset) {
            return Err(OnnxError::Unsupported(format!(
                "opset {opset} is outside the supported range {}-{} (re-export with opset_version in that range)",
                OPSETS.start(),
                OPSETS.end()
            )));
        }
        if graph.has_sparse_initializers {
            return Err(OnnxError::Unsupported("sparse initializers".into()));
        }
        for node in &graph.nodes {
            let default_domain = node.domain.is_empty() || node.domain == "ai.onnx";
            if !default_domain || !ops::SUPPORTED.contains(&node.op_type.as_str()) {
                let domain = if default_domain {
                    String::new()
                } else {
                    format!(" of domain '{}'", node.domain)
                };
                return Err(OnnxError::Unsupported(format!(
                    "operator '{}'{domain} (node '{}'); supported: {}",
                    node.op_type,
                    node.name,
                    ops::SUPPORTED.join(", ")
                )));
            }
        }
        let mut constants = HashMap::new();
        for t in &graph.initializers {
            constants.insert(t.name.clone(), Value::from_proto(t)?);
        }
        let inputs: Vec<&ValueInfo> = graph
            .inputs
            .iter()
            .filter(|v| !constants.contains_key(&v.name))
            .collect();
        let input = match inputs.as_slice() {
            [one] => (*one).clone(),
            _ => {
                let names: Vec<&str> = inputs.iter().map(|v| v.name.as_str()).collect();
                return Err(OnnxError::Unsupported(format!(
                    "the graph has {} inputs {names:?}; a classifier takes one",
                    names.len()
                )));
            }
        };
        Ok(OnnxGraph {
            opset,
            nodes: graph.nodes,
            constants,
            input,
            output: graph.outputs[0].clone(),
        })
    }

    /// Names of every value a node produces, in evaluation order (for choosing a layer).
    pub fn value_names(&self) -> impl Iterator<Item = &str> {
        self.nodes
            .iter()
            .flat_map(|n| n.outputs.iter().map(String::as_str))
    }

    /// The input of the last `Gemm`/`MatMul` node computed from the graph input (its other
    /// operand is a weight), i.e. the activations the final linear layer reads; `Err(true)`
    /// when that input is the graph input itself (no hidden layer), `Err(false)` when no such
    /// node exists. Nodes are in topological order (the ONNX spec requires it), so one pass
    /// marks the values that depend on the input.
    pub fn last_linear_input(&self) -> std::result::Result<&str, bool> {
        let mut live: std::collections::HashSet<&str> =
            std::iter::once(self.input.name.as_str()).collect();
        let mut last = None;
        for node in &self.nodes {
            let Some(from_input) = node.inputs.iter().find(|i| live.contains(i.as_str())) else {
                continue;
            };
            if matches!(node.op_type.as_str(), "Gemm" | "MatMul") {
                last = Some(from_input.as_str());
            }
            live.extend(node.outputs.iter().map(String::as_str));
        }
        match last {
            Some(name) if name != self.input.name => Ok(name),
            found => Err(found.is_some()),
        }
    }

    /// Runs the graph on `x` (shaped as the graph input) and returns the values named in
    /// `wanted` (graph output first if asked), stopping after the last one is computed.
    pub fn run(&self, x: &Tensor, wanted: &[&str]) -> Result<Vec<Tensor>> {
        let mut values: HashMap<&str, Value> = HashMap::new();
        values.insert(self.input.name.as_str(), Value::Float(x.clone()));
        let mut missing: Vec<&str> = wanted.to_vec();
        missing.retain(|w| !values.contains_key(w));
        for node in &self.nodes {
            if missing.is_empty() {
                break;
            }
            let args: Vec<Option<&Value>> = node
                .inputs
                .iter()
                .map(|name| {
                    if name.is_empty() {
                        return Ok(None);
                    }
                    values
                        .get(name.as_str())
                        .or_else(|| self.constants.get(name))
                        .map(Some)
                        .ok_or_else(|| {
                            eval_error(node, format!("input '{name}' is not computed before it"))
                        })
                })
                .collect::<Result<_>>()?;
            let outputs = ops::eval(node, self.opset, &args).map_err(|e| {
                if e.unsupported {
                    OnnxError::Unsupported(format!(
                        "node '{}' ({}): {}",
                        node.name, node.op_type, e.message
                    ))
                } else {
                    eval_error(node, e.message)
                }
            })?;
            for (name, value) in node.outputs.iter().zip(outputs) {
                if !name.is_empty() {
                    missing.retain(|w| w != name);
                    values.insert(name.as_str(), value);
                }
            }
        }
        wanted
            .iter()
            .map(|w| match values.get(w).or_else(|| self.constants.get(*w)) {
                Some(v) => v
                    .to_float()
                    .map_err(|e| eval_error(&self.nodes[0], e.to_string())),
                None => Err(OnnxError::InvalidInput(format!(
                    "the graph has no value named '{w}'"
                ))),
            })
            .collect()
    }
}

fn eval_error(node: &Node, message: String) -> OnnxError {
    OnnxError::Eval {
        node: node.name.clone(),
        op: node.op_type.clone(),
        message,
    }
}
