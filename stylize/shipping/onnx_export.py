"""Exporting a style network to ONNX for the game's C++ side (ONNX Runtime or OpenCV's DNN module).

The graph is the network's ``core``: float32 NCHW RGB in 0..1 in, the same out, with dynamic batch,
height and width. Height and width must be multiples of 4 and at least 16: the caller pads the
bottom and right edges by replicating the last row and column and crops the output back (exactly
what ``PaddedNet.forward`` does in PyTorch, and what the C++ example in ``stylize/assets/cpp`` does). Keeping that padding
out of the graph leaves no shape arithmetic in it; after graph simplification (onnxslim) it holds
only Pad (reflect), Conv, InstanceNormalization, Relu, Add, Resize (nearest, constant scales),
Concat and Sigmoid, which Debian's OpenCV 4.6 loads.

Precision: ``fp32``; ``fp16`` stores the weights in half precision (half the file; a Cast node
restores float32, so every runtime computes in float32); ``int8`` stores each conv weight as int8
with a per-output-channel scale (a quarter of the file; DequantizeLinear restores float32).

The file's metadata properties say how to call it (layout, colour order, value range, padding) and
where it came from (style name, architecture, the source model's SHA-256), and ``export_onnx``
checks the written graph against PyTorch in ONNX Runtime (and in OpenCV's DNN module where the
installed OpenCV can load it) before it writes anything.

Zero-training styles (a :class:`ReferenceNet`: one transformer and a table of style vectors, also a
mix from ``mix_styles``) export as the plain transformer with the N x 100 table as a constant and a
second input ``style_weights`` (float32 [N], one weight per style in the table; the graph divides
them by their sum), so the game chooses the style and the mix at run time. Batch is 1, height and
width are dynamic. The face guard (a Haar face detector and a second painting of the face) and the
working scale stay in Python: the graph is what ``ReferenceNet.transformer`` computes for the
given weights, and the round-trip check compares exactly that.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stylize.config import PARAMETERS, parameter_default
from stylize.errors import StylizeError
from stylize.files import sha256_bytes
from stylize.imageio import atomic_write_bytes, read_image
from stylize.inference.arbitrary import VECTOR_SIZE, ReferenceNet
from stylize.inference.image import to_uint8
from stylize.inference.model_file import StyleModel, reference_files
from stylize.inference.tone import METHOD, ValueKeeper, calibrate, clamp
from stylize.nets.transformer import PaddedNet, padding_for
from stylize.output_folder import make_folder
from stylize.progress import phase
from stylize.style_folder import is_style_name
from stylize.values import check_setting

FORMAT = "stylize-onnx/1"
OPSET = 13
INPUT_NAME = "input"
OUTPUT_NAME = "output"
STYLE_INPUT_NAME = "style_weights"  # zero-training exports only
REFERENCE_KIND = "reference"
# The dynamic sides of a zero-training export. OpenCV 4.6 runs that graph only when its input is
# declared at the image's size; the C++ example declares it in memory by rewriting these two
# dim_param fields in place (same byte length), so keep the names short (at most 9 bytes).
HEIGHT_DIM, WIDTH_DIM = "height", "width"
# The style table and its row of ones (the graph's constants of those names) stay float32 in fp16 and
# int8 exports: N x 100 numbers cost nothing, and rounding them moves every style.
TABLE_NAME, ONES_NAME = "style_table", "style_ones"
# A zero-training export's constants that turn style_weights into the mix of its tonal keys (value op).
MIX_EYE_NAME, MIX_ONES_NAME = "values_mix_eye", "values_mix_ones"
# The value op's constants (the tonal keys' grids, its tap and sum weights: a few hundred numbers) stay
# float32 in fp16 and int8 exports too, so the op computes what apply's does at every precision.
KEEPER_PREFIXES = ("keeper.", "/keeper/", MIX_EYE_NAME, MIX_ONES_NAME)
PRECISIONS = ("fp32", "fp16", "int8")
# Largest |ONNX - PyTorch| accepted by the round-trip check, in the 0..1 output range. fp32 must agree
# to well under one 8-bit level; the compressed weights change the output by design, a little.
TOLERANCE = {"fp32": 1e-3, "fp16": 2e-2, "int8": 6e-2}
MEAN_TOLERANCE = {"fp32": 1e-4, "fp16": 2e-3, "int8": 8e-3}
PROBE_SIZES = ((285, 295), (72, 74))  # a portrait and a thumbnail
INPUT_CONTRACT = (
    "float32 NCHW, RGB, 0..1; height and width multiples of 4 and at least 16: pad the bottom and "
    "right edges by replicating the last row/column, then crop the output back"
)
STYLE_WEIGHTS_CONTRACT = (
    "float32 [N], one weight per style in style_names order, each >= 0 and not all 0; the graph "
    "divides them by their sum (one style: 1 there, 0 elsewhere; a mix: any proportions)"
)
FACE_GUARD_NOTE = (
    "not in the graph: stylize's face guard (a Haar face detector, the face painted again nearer the "
    "neutral style) runs in Python only; the graph is the plain transformer"
)


@dataclass
class RuntimeCheck:
    """How one runtime's output compares with PyTorch's on the probe images."""

    runtime: str
    loaded: bool
    max_abs: float | None = None  # 0..1 range
    mean_abs: float | None = None
    tolerance: float | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return (
            self.loaded and self.max_abs is not None and self.tolerance is not None and self.max_abs <= self.tolerance
        )

    def line(self) -> str:
        if not self.loaded:
            return f"{self.runtime}: not checked ({self.detail})"
        verdict = "ok" if self.ok else "MISMATCH"
        return (
            f"{self.runtime}: {verdict}, max |diff| {self.max_abs:.2e}, mean {self.mean_abs:.2e} "
            f"(tolerance {self.tolerance:g} of the 0..1 range){' ' + self.detail if self.detail else ''}"
        )


@dataclass
class ExportResult:
    path: Path
    bytes: int
    precision: str
    checks: list[RuntimeCheck] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)


class _Core(torch.nn.Module):
    """A trained network as a graph: its ``core``, then (``keep_values`` > 0) the value op on its output."""

    def __init__(self, network: PaddedNet, keep_values: float = 0.0) -> None:
        super().__init__()
        self.network = network
        self.keeper = ValueKeeper(calibrate(network), keep_values) if keep_values > 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        styled = self.network.core(x)
        return styled if self.keeper is None else self.keeper(x, clamp(styled, 0.0, 1.0))


class _ReferenceCore(torch.nn.Module):
    """A zero-training network as a graph: ``forward(input, style_weights)`` -> the transformer's output
    for the style vector ``style_weights @ table / sum(style_weights)``, then (``keep_values`` > 0) the
    value op with each style's tonal key mixed by the same weights (exact for one style; a mix's own key
    is measured in Python, so a mix's values may differ by a little).

    The weighted sum and the sum are two 1x1 convolutions of the weights laid out as (1, N, 1, 1),
    divided elementwise: OpenCV 4.6 has no opset-13 ReduceSum and cannot broadcast a 1-D Div."""

    def __init__(self, network: ReferenceNet, keep_values: float = 0.0) -> None:
        super().__init__()
        self.transformer = network.transformer
        vectors = network.vectors.detach().float()
        count = len(vectors)
        self.register_buffer(TABLE_NAME, vectors.t().reshape(VECTOR_SIZE, count, 1, 1).contiguous())
        self.register_buffer(ONES_NAME, torch.ones(VECTOR_SIZE, count, 1, 1))
        self.keeper: ValueKeeper | None = None
        if keep_values > 0:
            self.keeper = ValueKeeper([style_calibration(network, index) for index in range(count)], keep_values)
            self.register_buffer(MIX_EYE_NAME, torch.eye(count).reshape(count, count, 1, 1))
            self.register_buffer(MIX_ONES_NAME, torch.ones(count, count, 1, 1))

    def forward(self, x: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
        weights = style_weights.reshape(1, -1, 1, 1)
        table, ones = getattr(self, TABLE_NAME), getattr(self, ONES_NAME)
        vector = torch.nn.functional.conv2d(weights, table) / torch.nn.functional.conv2d(weights, ones)
        styled = self.transformer(x, vector)
        if self.keeper is None:
            return styled
        # the weights divided by their sum, (1, N, 1, 1): the mix of the styles' tonal keys
        mix = torch.nn.functional.conv2d(weights, getattr(self, MIX_EYE_NAME)) / torch.nn.functional.conv2d(
            weights, getattr(self, MIX_ONES_NAME)
        )
        return self.keeper(x, clamp(styled, 0.0, 1.0), mix)


def style_calibration(network: ReferenceNet, index: int):
    """The tonal key of style ``index`` of a zero-training network alone (its own model's when it has one)."""
    if len(network.vectors) == 1 and torch.equal(network.weights, torch.ones(1)):
        return calibrate(network)
    alone = ReferenceNet(
        network.vectors[index : index + 1], [1.0], network.neutral, network.guard, transformer=network.transformer
    )
    return calibrate(alone.eval())


def _require_onnx():
    try:
        import onnx
        import onnxslim
    except ImportError as err:  # pragma: no cover - both are dependencies
        raise StylizeError(
            f"ONNX export needs the packages onnx and onnxslim ({err}); run: pip install onnx onnxslim"
        ) from err
    return onnx, onnxslim


def export_module(network: PaddedNet | ReferenceNet, keep_values: float = 0.0) -> torch.nn.Module:
    """What the exported graph computes, as a module: ``forward(padded input[, style_weights])``."""
    network = network.eval().to("cpu")
    if isinstance(network, ReferenceNet):
        return _ReferenceCore(network, keep_values).eval()
    return _Core(network, keep_values).eval()


def onnx_graph(
    network: PaddedNet | ReferenceNet,
    *,
    precision: str = "fp32",
    metadata: dict[str, str] | None = None,
    keep_values: float = 0.0,
):
    """The simplified ONNX ``ModelProto`` of ``network.core`` (dynamic N, H, W), or of a zero-training
    network's transformer and style table (inputs ``input`` with dynamic H, W and ``style_weights``),
    followed by the value op when ``keep_values`` > 0 (:mod:`stylize.inference.tone`)."""
    if precision not in PRECISIONS:
        raise StylizeError(f"precision {precision!r} is not known; use one of {', '.join(PRECISIONS)}")
    onnx, onnxslim = _require_onnx()
    network = network.eval().to("cpu")
    buffer = io.BytesIO()
    module = export_module(network, keep_values)
    if isinstance(network, ReferenceNet):
        example: tuple[torch.Tensor, ...] = (torch.zeros(1, 3, 64, 64), network.weights.detach().clone())
        input_names = [INPUT_NAME, STYLE_INPUT_NAME]
        dynamic = {2: HEIGHT_DIM, 3: WIDTH_DIM}
    else:
        example, input_names = (torch.zeros(1, 3, 64, 64),), [INPUT_NAME]
        dynamic = {0: "batch", 2: HEIGHT_DIM, 3: WIDTH_DIM}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and shape-inference notes
        torch.onnx.export(
            module,
            example,
            buffer,
            dynamo=False,
            opset_version=OPSET,
            input_names=input_names,
            output_names=[OUTPUT_NAME],
            do_constant_folding=True,
            dynamic_axes={INPUT_NAME: dynamic, OUTPUT_NAME: dynamic},
        )
    model = onnxslim.slim(onnx.load_from_string(buffer.getvalue()))
    del model.graph.value_info[:]  # intermediate shapes: the runtimes infer them, and they vary with H, W
    if precision == "fp16":
        _store_weights_fp16(model)
    elif precision == "int8":
        _store_conv_weights_int8(model)
    # not "pytorch": OpenCV's importer then counts AveragePool's padding in the average (the value op's
    # low-pass excludes it), whatever count_include_pad says
    model.producer_name = "stylize"
    model.doc_string = f"stylize style network; input: {INPUT_CONTRACT}"
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=str(value))
    onnx.checker.check_model(model)
    return model


def _float_initializers(model) -> list:
    from onnx import TensorProto

    return [init for init in model.graph.initializer if init.data_type == TensorProto.FLOAT]


def _replace_with_cast(model, originals: list, make_stored) -> None:
    """Store each initializer as ``make_stored(array)`` -> (tensors, node) restoring the float32 name."""
    from onnx import numpy_helper

    nodes = []
    for init in originals:
        array = numpy_helper.to_array(init)
        stored, node = make_stored(init.name, array)
        model.graph.initializer.remove(init)
        model.graph.initializer.extend(stored)
        nodes.append(node)
    for node in reversed(nodes):
        model.graph.node.insert(0, node)


def _kept_float32(name: str) -> bool:
    """Whether the constant ``name`` stays float32 in fp16 and int8 exports (the style table, the value op)."""
    return name in (TABLE_NAME, ONES_NAME) or name.startswith(KEEPER_PREFIXES)


def _store_weights_fp16(model) -> None:
    from onnx import TensorProto, helper, numpy_helper

    def stored(name: str, array: np.ndarray):
        half = numpy_helper.from_array(array.astype(np.float16), f"{name}__fp16")
        return [half], helper.make_node("Cast", [half.name], [name], to=TensorProto.FLOAT, name=f"{name}__to_fp32")

    originals = [i for i in _float_initializers(model) if np.prod(i.dims) > 1 and not _kept_float32(i.name)]
    _replace_with_cast(model, originals, stored)


def _store_conv_weights_int8(model) -> None:
    from onnx import helper, numpy_helper

    conv_weights = {n.input[1] for n in model.graph.node if n.op_type == "Conv" and not _kept_float32(n.input[1])}

    def stored(name: str, array: np.ndarray):
        flat = np.abs(array.reshape(array.shape[0], -1)).max(axis=1)
        scale = np.where(flat > 0, flat / 127.0, 1.0).astype(np.float32)
        quantised = np.clip(np.round(array / scale.reshape(-1, *([1] * (array.ndim - 1)))), -127, 127).astype(np.int8)
        tensors = [
            numpy_helper.from_array(quantised, f"{name}__int8"),
            numpy_helper.from_array(scale, f"{name}__scale"),
            numpy_helper.from_array(np.zeros_like(scale, dtype=np.int8), f"{name}__zero"),
        ]
        node = helper.make_node("DequantizeLinear", [t.name for t in tensors], [name], axis=0, name=f"{name}__dequant")
        return tensors, node

    _replace_with_cast(
        model, [i for i in _float_initializers(model) if i.name in conv_weights and len(i.dims) == 4], stored
    )


def pad_for_graph(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (1, 3, H', W') float32 0..1, edge-padded as the graph requires."""
    height, width = rgb.shape[:2]
    pad_h, pad_w = padding_for(height, width)
    padded = np.pad(rgb, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return np.ascontiguousarray(padded.transpose(2, 0, 1)[None], dtype=np.float32) / np.float32(255.0)


def ort_session(model_bytes: bytes, threads: int = 1):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def _session_output(session, rgb: np.ndarray, style_weights: np.ndarray | None = None) -> np.ndarray:
    """(3, H, W) float 0..1: an exported graph on (H, W, 3) uint8 in ONNX Runtime, padded and cropped back."""
    height, width = rgb.shape[:2]
    feed = {INPUT_NAME: pad_for_graph(rgb)}
    if style_weights is not None:
        feed[STYLE_INPUT_NAME] = np.asarray(style_weights, dtype=np.float32)
    return session.run(None, feed)[0][0, :, :height, :width]


def check_style_weights(weights: Sequence[float], count: int) -> np.ndarray:
    """``weights`` as float32 [count]; refused unless there is one per style, finite, >= 0, not all 0."""
    values = np.asarray(list(weights), dtype=np.float64).ravel()
    if len(values) != count or not np.all(np.isfinite(values)) or np.any(values < 0) or values.sum() <= 0:
        raise StylizeError(
            f"style_weights={values.tolist()} must be {count} finite numbers >= 0, not all 0 (one per style "
            "in the export's style_names)",
            params=("style_weights",),
        )
    return values.astype(np.float32)


def run_session(session, rgb: np.ndarray, style_weights: Sequence[float] | None = None) -> np.ndarray:
    """Stylize (H, W, 3) uint8 with an ONNX Runtime session of an exported graph -> (H, W, 3) uint8.

    A zero-training export needs ``style_weights`` (one per style in its ``style_names``); a trained
    style's export takes none."""
    inputs = {i.name: i for i in session.get_inputs()}
    weights = None
    if STYLE_INPUT_NAME in inputs:
        if style_weights is None:
            raise StylizeError(
                "this export paints a table of styles; give style_weights=[...] with one weight per style",
                params=("style_weights",),
            )
        weights = check_style_weights(style_weights, int(inputs[STYLE_INPUT_NAME].shape[0]))
    elif style_weights is not None:
        raise StylizeError("this export paints one trained style; style_weights is for zero-training exports")
    return to_uint8(torch.from_numpy(_session_output(session, rgb, weights))[None])


def probe_images(model: StyleModel | None) -> list[np.ndarray]:
    """Deterministic test images: the style's first reference at portrait and thumbnail size (or smooth
    noise when the style keeps no references)."""
    import cv2

    source = None
    if model is not None and model.directory is not None:
        refs = [p for p in reference_files(model) if p.is_file()]
        if refs:
            source = read_image(refs[0]).rgb
    if source is None:
        rng = np.random.default_rng(0)
        source = cv2.resize(
            rng.integers(0, 256, (24, 24, 3), dtype=np.uint8), (320, 320), interpolation=cv2.INTER_CUBIC
        )
    return [cv2.resize(source, (w, h), interpolation=cv2.INTER_AREA) for h, w in PROBE_SIZES]


def _torch_outputs(module: torch.nn.Module, images: list[np.ndarray]) -> list[np.ndarray]:
    """(3, H, W) float 0..1: the export's module (:func:`export_module`) on the graph's padding, cropped back."""
    with torch.inference_mode():
        return [
            module(torch.from_numpy(pad_for_graph(image)))[0, :, : image.shape[0], : image.shape[1]].numpy()
            for image in images
        ]


def reference_weight_sets(network: ReferenceNet) -> list[np.ndarray]:
    """The style weights the round trip checks a zero-training export at: the network's own mix, equal
    weights (unnormalised, so the graph's division is checked), and the first and last style alone."""
    count = len(network.vectors)
    sets = [network.weights.detach().numpy().astype(np.float32), np.ones(count, np.float32)]
    for index in sorted({0, count - 1}) if count > 1 else []:
        sets.append(np.eye(count, dtype=np.float32)[index])
    unique: list[np.ndarray] = []
    for weights in sets:
        if not any(np.array_equal(weights, seen) for seen in unique):
            unique.append(weights)
    return unique


def reference_outputs(
    network: ReferenceNet,
    rgb: np.ndarray,
    style_weights: Sequence[float],
    keep_values: float = parameter_default("keep_values"),
) -> np.ndarray:
    """(3, H, W) float 0..1: what the graph of ``network`` computes in PyTorch for ``style_weights`` (the
    transformer alone: no face guard, no working scale; then the value op at ``keep_values``), on the
    graph's padding, cropped back."""
    return _reference_output(export_module(network, keep_values), rgb, style_weights)


def _reference_output(module: torch.nn.Module, rgb: np.ndarray, style_weights: Sequence[float]) -> np.ndarray:
    height, width = rgb.shape[:2]
    weights = torch.as_tensor(np.asarray(style_weights, dtype=np.float32))
    with torch.inference_mode():
        styled = module(torch.from_numpy(pad_for_graph(rgb)), weights)
    return styled[0, :, :height, :width].numpy()


def _reference_cases(
    network: ReferenceNet, images: list[np.ndarray], module: torch.nn.Module
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Every (image, weights) pair the round trip checks, with PyTorch's output for each."""
    cases = [(image, weights) for weights in reference_weight_sets(network) for image in images]
    expected = [_reference_output(module, image, weights) for image, weights in cases]
    return [c[0] for c in cases], [c[1] for c in cases], expected


def _compare(runtime: str, outputs: list[np.ndarray], expected: list[np.ndarray], precision: str) -> RuntimeCheck:
    diffs = np.concatenate([np.abs(o - e).ravel() for o, e in zip(outputs, expected)])
    check = RuntimeCheck(runtime, True, float(diffs.max()), float(diffs.mean()), TOLERANCE[precision])
    if check.ok and check.mean_abs is not None and check.mean_abs > MEAN_TOLERANCE[precision]:
        check.tolerance = -1.0  # systematic drift: fail
        check.detail = f"mean |diff| above {MEAN_TOLERANCE[precision]:g}"
    return check


def check_onnxruntime(
    model_bytes: bytes,
    images: list[np.ndarray],
    expected: list[np.ndarray],
    precision: str,
    style_weights: list[np.ndarray] | None = None,
) -> RuntimeCheck:
    """ONNX Runtime's outputs on ``images`` against PyTorch's (``expected``, from :func:`_torch_outputs`);
    ``style_weights``, one per image, for a zero-training export."""
    import onnxruntime

    session = ort_session(model_bytes)
    weights: list[np.ndarray | None] = list(style_weights) if style_weights is not None else [None] * len(images)
    outputs = [_session_output(session, image, w) for image, w in zip(images, weights, strict=True)]
    return _compare(f"onnxruntime {onnxruntime.__version__}", outputs, expected, precision)


@contextmanager
def quiet_opencv():
    """Silence OpenCV's own logging (its importer logs refusals to stderr; callers report them)."""
    import cv2

    logging = cv2.utils.logging
    previous = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging.setLogLevel(previous)


def _cv_reason(err: Exception) -> str:
    """The last "error:" line of an OpenCV exception, without OpenCV's source location."""
    lines = [line for line in str(err).splitlines() if "error:" in line]
    return (lines[-1] if lines else str(err)).rsplit("error:", 1)[-1].strip()


def with_fixed_shape(model_bytes: bytes, height: int, width: int) -> bytes:
    """A copy of an exported graph whose input and output are declared (1, 3, height, width)."""
    onnx, _ = _require_onnx()
    model = onnx.load_from_string(model_bytes)
    for value in (*model.graph.input, *model.graph.output):
        if value.name not in (INPUT_NAME, OUTPUT_NAME):
            continue  # style_weights keeps its [N]
        dims = value.type.tensor_type.shape.dim
        for index, size in enumerate((1, 3, height, width)):
            dims[index].dim_value = size
    return model.SerializeToString()


def _opencv_forward(
    model_bytes: bytes, images: list[np.ndarray], fixed: bool, style_weights: list[np.ndarray] | None = None
) -> list[np.ndarray]:
    import cv2

    outputs = []
    weights: list[np.ndarray | None] = list(style_weights) if style_weights is not None else [None] * len(images)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.onnx"
        net = None
        for image, w in zip(images, weights, strict=True):
            height, width = image.shape[:2]
            blob = pad_for_graph(image)
            if net is None or fixed:
                path.write_bytes(with_fixed_shape(model_bytes, *blob.shape[2:]) if fixed else model_bytes)
                net = cv2.dnn.readNetFromONNX(str(path))
            net.setInput(blob, INPUT_NAME)
            if w is not None:
                net.setInput(np.asarray(w, dtype=np.float32), STYLE_INPUT_NAME)
            outputs.append(net.forward()[0, :, :height, :width].copy())
    return outputs


def check_opencv(
    model_bytes: bytes,
    images: list[np.ndarray],
    expected: list[np.ndarray],
    precision: str,
    style_weights: list[np.ndarray] | None = None,
) -> RuntimeCheck:
    """The Python OpenCV's DNN module. Debian's OpenCV 4.6 (the C++ example's) takes the dynamic-shape
    graph of a trained style, the value op included; newer OpenCV importers refuse it (the network's input
    skip), so they are checked on a copy declared at each probe's size (as OpenCV 4.6 needs for a
    zero-training export: see docs/shipping.md)."""
    import cv2

    runtime = f"opencv-python {cv2.__version__} DNN"
    with quiet_opencv():
        try:
            outputs = _opencv_forward(model_bytes, images, False, style_weights)
            return _compare(runtime, outputs, expected, precision)
        except cv2.error as err:
            reason = _cv_reason(err)
        try:
            check = _compare(runtime, _opencv_forward(model_bytes, images, True, style_weights), expected, precision)
        except cv2.error as err:
            return RuntimeCheck(runtime, False, detail=f"this OpenCV refuses the graph: {_cv_reason(err)[:160]}")
        check.detail = f"(input shape fixed per image: this OpenCV refuses dynamic height/width: {reason[:100]})"
        return check


def model_metadata(model: StyleModel, precision: str) -> dict[str, str]:
    from stylize import __version__

    arch = model.metadata.get("architecture", {})
    return {
        "format": FORMAT,
        "style": model.name,
        "architecture": f"{arch.get('name')} v{arch.get('version')}",
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        "input_layout": "NCHW",
        "colour_order": "RGB",
        "value_range": "0..1",
        "input_contract": INPUT_CONTRACT,
        "size_multiple": "4",
        "min_side": "16",
        "alpha": "not an input: keep the image's alpha channel unchanged",
        "precision": precision,
        "source_model_sha256": model.weights_sha256,
        "stylize_version": __version__,
    }


def reference_metadata(model: StyleModel, precision: str) -> dict[str, str]:
    """The metadata properties of a zero-training export: how to call it, its styles in table order, and
    what stays in Python (the face guard, the working scale)."""
    from stylize import __version__

    network = model.network
    assert isinstance(network, ReferenceNet)
    names = list(network.names)
    if len(names) != len(network.vectors):
        raise StylizeError(f"{model.name!r}: {len(network.vectors)} style vectors but {len(names)} style names")
    bad = [n for n in names if not is_style_name(n)]
    if bad or len(set(names)) != len(names):
        raise StylizeError(
            f"{model.name!r}: the styles in an export need different names of letters, digits, '_', '-' and "
            f"'.' (the game picks them by name); got {', '.join(map(repr, names))}"
        )
    arch = model.metadata.get("architecture", {})
    table = network.vectors.detach().float().contiguous().numpy().tobytes()
    metadata = {
        "format": FORMAT,
        "kind": REFERENCE_KIND,
        "style": model.name,
        "architecture": f"{arch.get('name')} ({arch.get('engine')})",
        "input_name": INPUT_NAME,
        "style_input_name": STYLE_INPUT_NAME,
        "output_name": OUTPUT_NAME,
        "input_layout": "NCHW",
        "colour_order": "RGB",
        "value_range": "0..1",
        "input_contract": f"{INPUT_CONTRACT}; batch 1",
        "size_multiple": "4",
        "min_side": "16",
        "style_names": ",".join(names),
        "style_count": str(len(names)),
        "style_weights_contract": STYLE_WEIGHTS_CONTRACT,
        "default_style_weights": ",".join(f"{w:.6g}" for w in network.weights.tolist()),
        "face_guard": FACE_GUARD_NOTE,
        "work_scale": (
            f"{network.guard.work_scale:g}: stylize paints zero-training styles at this times the portrait's "
            "size and resizes back; the graph paints at the size it is given"
        ),
        "alpha": "not an input: keep the image's alpha channel unchanged",
        "precision": precision,
        "style_table_sha256": sha256_bytes(table),
        "stylize_version": __version__,
    }
    if "weights_sha256" in model.metadata and not model.metadata.get("mix"):  # a mix is no one file
        metadata["source_model_sha256"] = model.weights_sha256
    if model.metadata.get("mix"):
        metadata["mix"] = ",".join(f"{m['style']}:{float(m['weight']):g}" for m in model.metadata["mix"])
    return metadata


def export_onnx(
    model: StyleModel,
    out: str | os.PathLike[str],
    *,
    precision: str = "fp32",
    check: bool = True,
    overwrite: bool = True,
    keep_values: float | None = None,
) -> ExportResult:
    """Write ``model`` as an ONNX file at ``out`` (atomically), after checking it in ONNX Runtime.

    A failed ONNX Runtime check raises ``StylizeError`` and writes nothing; OpenCV's result is
    reported (this OpenCV may refuse dynamic shapes; Debian's OpenCV 4.6, which the C++ example uses,
    takes them).

    A zero-training style or mix (its network a :class:`ReferenceNet`) exports as its transformer with the
    style table and the input ``style_weights`` (see the module's docstring); the check compares with
    PyTorch's transformer at the network's own weights, equal weights and the first and last style alone.

    ``keep_values`` (default: the parameter's, 1) puts the value op of :mod:`stylize.inference.tone` in the
    graph after the network, with the style's tonal key as constants, so the game paints what apply does
    (ONNX Runtime and OpenCV alike), up to the last rows and columns of an image the graph sees padded
    (several levels there: docs/shipping.md).
    """
    path = Path(out)
    if path.suffix.lower() != ".onnx":
        raise StylizeError(f"{path}: give an output file ending in .onnx")
    if path.is_dir():
        raise StylizeError(f"{path}: is a folder; give a file name like {path / (model.name + '.onnx')}")
    if path.exists() and not overwrite:
        raise StylizeError(f"{path}: already exists; pass overwrite=True to replace it", params=("overwrite",))
    if path.is_symlink():
        raise StylizeError(f"{path}: is a symbolic link; give the path of a plain file to write")
    make_folder(path.parent, param="out", value="FILE")  # before the work: a folder that cannot be made is one line
    keep = float(parameter_default("keep_values") if keep_values is None else keep_values)
    check_setting("keep_values", keep, PARAMETERS["keep_values"].kind)
    reference = isinstance(model.network, ReferenceNet)
    metadata = reference_metadata(model, precision) if reference else model_metadata(model, precision)
    metadata["keep_values"] = f"{keep:g}"
    if keep > 0:
        metadata["values"] = f"{METHOD}: the portrait's low-frequency values kept under the style, in the graph"
    phase("exporting the network as an ONNX graph")
    graph = onnx_graph(model.network, precision=precision, metadata=metadata, keep_values=keep)
    data = graph.SerializeToString()
    checks: list[RuntimeCheck] = []
    if check:
        phase("checking the graph in ONNX Runtime against the network")
        probes = probe_images(model)
        images: list[np.ndarray] = probes
        weights: list[np.ndarray] | None = None
        module = export_module(model.network, keep)
        if isinstance(model.network, ReferenceNet):
            images, weights, expected = _reference_cases(model.network, probes, module)
        else:
            expected = _torch_outputs(module, images)
        checks.append(check_onnxruntime(data, images, expected, precision, weights))
        if not checks[0].ok:
            raise StylizeError(
                f"{path}: the exported graph does not match PyTorch in {checks[0].line()}; nothing written "
                "(report this with the style's model.json)"
            )
        # OpenCV (reported, not required) on the probes at the first weights only (the export's default
        # mix): the check reloads the graph for every size.
        shown = len(probes)
        phase("checking the graph in OpenCV")
        checks.append(
            check_opencv(data, images[:shown], expected[:shown], precision, weights[:shown] if weights else None)
        )
    atomic_write_bytes(path, data)
    return ExportResult(path, len(data), precision, checks, metadata)


def read_onnx_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata properties of an exported file (refuses a file stylize did not write)."""
    onnx, _ = _require_onnx()
    try:
        model = onnx.load(os.fspath(path), load_external_data=False)
    except Exception as err:  # onnx raises several types for a damaged file
        raise StylizeError(f"{path}: not a readable ONNX file ({err}); export it again with stylize export") from err
    props = {p.key: p.value for p in model.metadata_props}
    if props.get("format") != FORMAT:
        raise StylizeError(f"{path}: not an ONNX file written by stylize export (format is not {FORMAT!r})")
    return props
