"""The encoder step as an ONNX graph built node by node from a model's weights.

torch.onnx's exporter turns the encoder into about 45 nodes (layout transposes, flips,
shape arithmetic); at three encoder steps per call onnxruntime's per-node cost then outweighs
the GRU arithmetic. Built directly, the step is ONNX ``GRU`` operators (the backward direction
is ``direction="reverse"``, no flips) on time-major tensors and a handful of slices: 20 nodes
for two layers. ``export.py`` checks every graph against the torch model (round-trip tests).

Layouts are time-major: ``main`` (C', batch, D), ``context`` (R', batch, D), ``state``
(layers, batch, H) -> ``output`` (C', batch, V), ``new_state`` (layers, batch, H).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from torch import nn

GATES = [1, 0, 2]  # torch's GRU gate blocks are (r, z, n); ONNX's are (z, r, h)


class GraphBuilder:
    """Collects nodes and initializers; ``add`` returns a node's output names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def name(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}_{self._count}"

    def constant(self, prefix: str, value: np.ndarray) -> str:
        name = self.name(prefix)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def add(self, op: str, inputs: list[str], outputs: int | list[str] = 1, **attributes) -> list[str]:
        names = [self.name(op.lower()) for _ in range(outputs)] if isinstance(outputs, int) else outputs
        self.nodes.append(helper.make_node(op, inputs, names, **attributes))
        return names

    def gru(self, gru: nn.GRU, x: str, initial: str = "", reverse: bool = False, outputs: int = 1) -> list[str]:
        """One direction of a torch ``nn.GRU`` (one layer) over time-major ``x``: Y (T, 1, batch, H)[, Y_h]."""
        w_ih, w_hh = gru.weight_ih_l0.detach().numpy(), gru.weight_hh_l0.detach().numpy()
        b_ih, b_hh = gru.bias_ih_l0.detach().numpy(), gru.bias_hh_l0.detach().numpy()
        hidden = gru.hidden_size

        def gates(a: np.ndarray) -> np.ndarray:
            return np.concatenate([a[k * hidden : (k + 1) * hidden] for k in GATES])

        weights = [
            self.constant("W", gates(w_ih)[None].astype(np.float32)),
            self.constant("R", gates(w_hh)[None].astype(np.float32)),
            self.constant("B", np.concatenate([gates(b_ih), gates(b_hh)])[None].astype(np.float32)),
        ]
        inputs = [x, *weights] + (["", initial] if initial else [])
        return self.add(
            "GRU",
            inputs,
            outputs,
            hidden_size=hidden,
            linear_before_reset=1,
            direction="reverse" if reverse else "forward",
        )

    def model(self, inputs: dict[str, list], outputs: dict[str, list]) -> onnx.ModelProto:
        def values(specs):
            return [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n, shape in specs.items()]

        graph = helper.make_graph(self.nodes, "speechrnn_encoder", values(inputs), values(outputs), self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="speechrnn")
        onnx.checker.check_model(model)
        return model


def _output(builder: GraphBuilder, model, x: str, name: str = "output") -> None:
    """CTC: log-softmax of the output layer; classifiers: the encoder outputs themselves."""
    if model.config.head != "ctc":
        builder.add("Identity", [x], [name])
        return
    weight = builder.constant("head_W", model.head.weight.detach().numpy().T.astype(np.float32))
    bias = builder.constant("head_b", model.head.bias.detach().numpy().astype(np.float32))
    (logits,) = builder.add("Add", [builder.add("MatMul", [x, weight])[0], bias])
    builder.add("LogSoftmax", [logits], [name], axis=-1)


def chunk_graph(model) -> GraphBuilder:
    """Chunked encoder: one GRU over chunk + context per forward direction, its state read at the chunk's end."""
    b = GraphBuilder()
    layers = model.encoder.layers
    (x,) = b.add("Concat", ["main", "context"], axis=0)  # (C' + R', batch, D)
    states = b.add("Split", ["state"], len(layers), axis=0) if len(layers) > 1 else ["state"]
    (chunk,) = b.add("Shape", ["main"], start=0, end=1)  # (1,) C'
    (last_step,) = b.add("Sub", [chunk, b.constant("one", np.array([1], dtype=np.int64))])
    zero = b.constant("zero", np.array([0], dtype=np.int64))
    axis0 = b.constant("axis0", np.array([0], dtype=np.int64))
    new_states = []
    for i, layer in enumerate(layers):
        (backward,) = b.gru(layer.backward_gru, x, reverse=True)
        if i == len(layers) - 1:  # the right context only feeds the next layer
            (main,) = b.add("Slice", [x, zero, chunk, axis0])
            forward, state = b.gru(layer.forward_gru, main, states[i], outputs=2)
            (backward,) = b.add("Slice", [backward, zero, chunk, axis0])
            (both,) = b.add("Concat", [forward, backward], axis=3)
            (x,) = b.add("Squeeze", [both, b.constant("axis1", np.array([1], dtype=np.int64))])
            new_states.append(state)
            break
        (forward,) = b.gru(layer.forward_gru, x, states[i])
        (state,) = b.add("Gather", [forward, last_step], axis=0)  # (1, 1, batch, H)
        (both,) = b.add("Concat", [forward, backward], axis=3)
        (x,) = b.add("Squeeze", [both, b.constant("axis1", np.array([1], dtype=np.int64))])
        (state,) = b.add("Squeeze", [state, b.constant("axis1", np.array([1], dtype=np.int64))])
        new_states.append(state)
    b.add("Concat", new_states, ["new_state"], axis=0)
    _output(b, model, x)
    return b


def unidirectional_graph(model) -> GraphBuilder:
    b = GraphBuilder()
    layers = model.encoder.layers
    states = b.add("Split", ["state"], len(layers), axis=0) if len(layers) > 1 else ["state"]
    x, new_states = "main", []
    for i, layer in enumerate(layers):
        forward, state = b.gru(layer.forward_gru, x, states[i], outputs=2)
        (x,) = b.add("Squeeze", [forward, b.constant("axis1", np.array([1], dtype=np.int64))])
        new_states.append(state)
    b.add("Concat", new_states, ["new_state"], axis=0)
    _output(b, model, x)
    return b


def full_graph(model) -> GraphBuilder:
    b = GraphBuilder()
    x = "steps"
    for layer in model.encoder.layers:
        (forward,) = b.gru(layer.forward_gru, x)
        (backward,) = b.gru(layer.backward_gru, x, reverse=True)
        (both,) = b.add("Concat", [forward, backward], axis=3)
        (x,) = b.add("Squeeze", [both, b.constant("axis1", np.array([1], dtype=np.int64))])
    _output(b, model, x)
    return b


BUILDERS = {"chunked": chunk_graph, "unidirectional": unidirectional_graph, "full": full_graph}


def encoder_graph(model, mode: str, inputs: dict[str, list], outputs: dict[str, list]) -> onnx.ModelProto:
    """The encoder graph of ``mode`` ("chunked", "unidirectional", "full") as an ONNX model."""
    return BUILDERS[mode](model).model(inputs, outputs)
