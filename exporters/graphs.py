"""Which graphs an architecture gets, and the names of their inputs and outputs.

Nine graphs per architecture: embedding, block and head, each as a forward
graph, a training-step graph and an inference graph. In forward and training
graphs the weights are graph *inputs* (listed first, in the order of the
module's named_parameters(), under their local names such as "ln1.weight"), so
one block graph serves every layer, training can change them every step, and a
file stays small.

Inference graphs ("infer") compute what the forward graph does, but their
weights are *initializers* under the same local names, stored as external data
that no file holds (location SUPPLIED_WEIGHTS_LOCATION): the runtime supplies
them when it makes the session (onnxruntime's
SessionOptions.add_external_initializers). Weights known at session creation
let onnxruntime fold their transposes and pre-pack them for its GEMM, and
block_infer also uses onnxruntime's fused causal Attention (exporters/infer.py).
A forward-only stage runs these; one that trains runs the forward graphs.

Data inputs and outputs (batch and tokens are dynamic axes):
  embedding_forward  tokens                      -> y
  embedding_infer    tokens                      -> y        (weights supplied, not inputs)
  embedding_train    tokens, grad_y              -> y, grad.<param>...
  block_forward      x                           -> y
  block_infer        x                           -> y        (weights supplied, not inputs)
  block_train        x, grad_y                   -> y, grad_x, grad.<param>...
  head_forward       x                           -> logits
  head_infer         x                           -> logits   (weights supplied, not inputs)
  head_train         x, targets                  -> loss, grad_x, grad.<param>...
The head's loss is the mean cross-entropy over every token of the batch.

Pure stdlib on purpose: the runtime reads these names without torch.
"""

from __future__ import annotations

from dataclasses import dataclass

PARTS = ("embedding", "block", "head")
KINDS = ("forward", "train", "infer")
SUPPLIED_WEIGHTS_LOCATION = "supplied-at-session-creation"  # external-data location of infer graphs' weights
GRADIENT_PREFIX = "grad."

# The dynamic axes of every data tensor that has them: [batch, tokens, ...].
BATCH_AXIS_NAME = "batch"
TOKENS_AXIS_NAME = "tokens"

_DATA_NAMES: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {
    ("embedding", "forward"): (("tokens",), ("y",)),
    ("embedding", "infer"): (("tokens",), ("y",)),
    ("embedding", "train"): (("tokens", "grad_y"), ("y",)),
    ("block", "forward"): (("x",), ("y",)),
    ("block", "infer"): (("x",), ("y",)),
    ("block", "train"): (("x", "grad_y"), ("y", "grad_x")),
    ("head", "forward"): (("x",), ("logits",)),
    ("head", "infer"): (("x",), ("logits",)),
    ("head", "train"): (("x", "targets"), ("loss", "grad_x")),
}


@dataclass(frozen=True)
class GraphLayout:
    """Names and order of one graph's inputs and outputs."""

    part: str  # "embedding", "block" or "head"
    kind: str  # "forward" or "train"
    parameter_names: tuple[str, ...]  # local names, in order: the first graph inputs (supplied initializers for "infer")
    data_inputs: tuple[str, ...]  # after the parameters
    data_outputs: tuple[str, ...]  # before the parameter gradients (train graphs)

    @property
    def name(self) -> str:
        return f"{self.part}_{self.kind}"

    @property
    def file_name(self) -> str:
        return f"{self.name}.onnx"

    @property
    def takes_weights_as_inputs(self) -> bool:
        return self.kind != "infer"

    @property
    def input_names(self) -> tuple[str, ...]:
        return (self.parameter_names if self.takes_weights_as_inputs else ()) + self.data_inputs

    @property
    def output_names(self) -> tuple[str, ...]:
        if self.kind != "train":
            return self.data_outputs
        return self.data_outputs + tuple(GRADIENT_PREFIX + n for n in self.parameter_names)

    @property
    def dynamic_names(self) -> tuple[str, ...]:
        """Data tensors whose first two axes are [batch, tokens] (the loss is a scalar)."""
        return tuple(n for n in self.data_inputs + self.data_outputs if n != "loss")


def graph_layout(part: str, kind: str, parameter_names: tuple[str, ...]) -> GraphLayout:
    if (part, kind) not in _DATA_NAMES:
        raise ValueError(f"no graph {part}_{kind}; parts are {PARTS}, kinds {KINDS}")
    inputs, outputs = _DATA_NAMES[(part, kind)]
    return GraphLayout(part, kind, tuple(parameter_names), inputs, outputs)


def graph_names() -> tuple[str, ...]:
    return tuple(f"{part}_{kind}" for part in PARTS for kind in KINDS)
