"""Keeping the cast's values (stylize.inference.tone): the op, its calibration, its record and its settings."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from stylize.errors import StylizeError
from stylize.inference import tone
from stylize.inference.image import ApplySettings, stylize_batch
from stylize.inference.tone import (
    GRID,
    ToneCalibration,
    ValueKeeper,
    attach,
    calibrate,
    calibration_from,
    keep_values,
    keep_values_in_place,
    low_pass,
    luma,
    value_op,
)
from stylize.nets.transformer import PaddedNet, padding_for


def _flat(value: float) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(value for _ in range(GRID)) for _ in range(GRID))


def _calibration(typical: float = 0.5, typical_out: float = 0.7, paper: float = 0.9) -> ToneCalibration:
    return ToneCalibration(typical=_flat(typical), typical_out=_flat(typical_out), paper=paper)


def _grey(value: float, size: int = 48) -> torch.Tensor:
    return torch.full((1, 3, size, size), value)


class PaperNet(PaddedNet):
    """A stand-in style: every portrait becomes the same paper tone with dark strokes (instance norm's effect)."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def core(self, x: torch.Tensor) -> torch.Tensor:
        strokes = (torch.arange(x.shape[-1]) % 6 == 0).float() * 0.3
        return (0.8 - strokes + 0 * self.anchor).expand_as(x).clone()


def test_low_pass_keeps_a_flat_image_and_smooths_an_edge() -> None:
    flat = torch.full((1, 1, 20, 30), 0.3)
    assert torch.allclose(low_pass(flat, 9), flat, atol=1e-6)  # edge-normalised: no darkening at borders
    edge = torch.zeros(1, 1, 20, 40)
    edge[..., 20:] = 1.0
    smooth = low_pass(edge, 9)[0, 0, 10]
    assert smooth[0] == pytest.approx(0.0, abs=1e-6) and smooth[-1] == pytest.approx(1.0, abs=1e-6)
    assert 0.3 < float(smooth[20]) < 0.7 and bool((smooth[1:] >= smooth[:-1] - 1e-6).all())


def test_keep_zero_is_the_styled_image_unchanged() -> None:
    styled = torch.rand(1, 3, 32, 32)
    assert keep_values(_grey(0.2, 32), styled, 0.0, _calibration()) is styled


def test_a_darker_portrait_comes_out_darker_and_a_typical_one_as_typical() -> None:
    calibration = _calibration(typical=0.5, typical_out=0.7)
    styled = torch.full((1, 3, 48, 48), 0.7)  # the style's one tone, whatever the portrait
    typical = keep_values(_grey(0.5), styled, 1.0, calibration)
    dark = keep_values(_grey(0.2), styled, 1.0, calibration)
    light = keep_values(_grey(0.6), styled, 1.0, calibration)
    assert torch.allclose(typical, styled, atol=1e-4)
    assert float(dark.mean()) < 0.7 - 0.25 and 0.7 < float(light.mean()) < 0.9  # saturates below paper
    half = keep_values(_grey(0.2), styled, 0.5, calibration)
    assert float(dark.mean()) < float(half.mean()) < 0.7


def test_values_stay_in_range_and_strokes_keep_their_order() -> None:
    calibration = _calibration(typical=0.5, typical_out=0.5, paper=0.95)
    strokes = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(0))
    for content in (_grey(0.0, 40), _grey(1.0, 40)):
        out = keep_values(content, strokes, 1.0, calibration)
        assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
        before, after = luma(strokes).flatten(), luma(out).flatten()
        centre = after.reshape(40, 40)[10:30, 10:30].flatten()  # the low-pass is near flat there
        assert float(torch.corrcoef(torch.stack([before.reshape(40, 40)[10:30, 10:30].flatten(), centre]))[0, 1]) > 0.9


def test_hue_is_the_styles() -> None:
    styled = torch.tensor([0.8, 0.6, 0.4]).reshape(1, 3, 1, 1).expand(1, 3, 24, 24).clone()
    out = keep_values(_grey(0.1, 24), styled, 1.0, _calibration(typical=0.5, typical_out=0.65))
    ratio = out[0, :, 12, 12] / styled[0, :, 12, 12]
    assert float(ratio.max() - ratio.min()) < 1e-4  # darkening multiplies the three channels alike


def _ramp_calibration(paper: float = 0.9, lift: float = 0.0) -> ToneCalibration:
    return ToneCalibration(
        typical=tuple(tuple((i + j) / (2 * GRID) for j in range(GRID)) for i in range(GRID)),
        typical_out=tuple(tuple(min(1.0, lift + (i * GRID + j) / GRID**2) for j in range(GRID)) for i in range(GRID)),
        paper=paper,
    )


@pytest.mark.parametrize("size", [(36, 52), (16, 16), (300, 287), (12, 12), (5, 7), (1, 1)])
def test_the_onnx_module_is_the_function(size) -> None:
    """ValueKeeper stretches the key's maps without F.interpolate (no shape in the graph): the same maps
    and the same output to float rounding, up-, down- and not resized."""
    calibration = _ramp_calibration()
    generator = torch.Generator().manual_seed(1)
    content, styled = torch.rand(2, 3, *size, generator=generator), torch.rand(2, 3, *size, generator=generator)
    keeper = ValueKeeper(calibration, 0.6, 9)
    stretched = torch.cat(calibration.maps(size), 1)
    assert torch.allclose(keeper.maps(content), stretched.expand(2, -1, -1, -1), atol=1e-6)
    expected = value_op(content, styled, 0.6, calibration, 9)  # the op on the frame it is given
    assert torch.allclose(keeper(content, styled), expected, atol=1e-6)


def test_the_onnx_module_mixes_several_keys() -> None:
    """A zero-training export's keeper: one key alone is that key; a mix is the key of the mixed maps and
    paper (the typical map is the first key's: the same calibration faces for every style)."""
    first, second = _ramp_calibration(0.9), _ramp_calibration(0.6, lift=0.2)
    mixed = ToneCalibration(
        typical=first.typical,
        typical_out=tuple(
            tuple(0.25 * a + 0.75 * b for a, b in zip(row_a, row_b, strict=True))
            for row_a, row_b in zip(first.typical_out, second.typical_out, strict=True)
        ),
        paper=0.25 * 0.9 + 0.75 * 0.6,
    )
    generator = torch.Generator().manual_seed(2)
    content, styled = torch.rand(1, 3, 40, 33, generator=generator), torch.rand(1, 3, 40, 33, generator=generator)
    keeper = ValueKeeper([first, second], 1.0, 9)
    for mix, key in (((1.0, 0.0), first), ((0.0, 1.0), second), ((0.25, 0.75), mixed)):
        got = keeper(content, styled, torch.tensor(mix).reshape(1, 2, 1, 1))
        assert torch.allclose(got, value_op(content, styled, 1.0, key, 9), atol=1e-5), mix
    with pytest.raises(ValueError, match="needs their mix"):
        keeper(content, styled)


def test_clamp_is_clamp_in_pytorch() -> None:
    x = torch.linspace(-2.0, 3.0, 101)
    assert torch.equal(tone.clamp(x, 0.0, 1.0), x.clamp(0.0, 1.0))
    assert torch.equal(tone.clamp(x, 0.5), x.clamp(min=0.5))
    assert torch.equal(tone.clamp(x, high=0.25), x.clamp(max=0.25))


class _Keep(torch.nn.Module):
    def __init__(self, keeper: ValueKeeper) -> None:
        super().__init__()
        self.keeper = keeper

    def forward(self, both: torch.Tensor) -> torch.Tensor:
        return self.keeper(both[:, 0:3], both[:, 3:6])


def test_the_onnx_graph_has_no_shape_arithmetic_and_runs_at_any_size(tmp_path) -> None:
    """The module's ONNX graph: no Shape, Resize or Clip (OpenCV refuses them there), dynamic height and
    width, and ONNX Runtime and OpenCV give keep_values' numbers at sizes it was not traced at."""
    import io
    import warnings

    import cv2
    import numpy as np
    import onnx
    import onnxruntime

    calibration = _ramp_calibration()
    buffer = io.BytesIO()
    dynamic = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Keep(ValueKeeper(calibration, 1.0, 9)),
            (torch.rand(1, 6, 24, 24),),
            buffer,
            dynamo=False,
            opset_version=13,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": dynamic, "output": dynamic},
        )
    model = onnx.load_from_string(buffer.getvalue())
    # OpenCV's importer counts AveragePool's padding in the average for a file whose producer is "pytorch",
    # whatever count_include_pad says; stylize's exports name themselves
    model.producer_name = "stylize"
    data = model.SerializeToString()
    ops = {node.op_type for node in model.graph.node}
    assert not ops & {"Shape", "Resize", "Clip", "Gather", "Range", "ConstantOfShape"}, ops
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    (tmp_path / "keep.onnx").write_bytes(data)
    net = cv2.dnn.readNetFromONNX(str(tmp_path / "keep.onnx"))  # dynamic sides: no fixed-size copy
    generator = torch.Generator().manual_seed(3)
    for height, width in ((36, 52), (301, 288), (16, 20)):
        both = torch.rand(1, 6, height, width, generator=generator)
        expected = value_op(both[:, :3], both[:, 3:], 1.0, calibration, 9).numpy()
        got = session.run(None, {"input": both.numpy()})[0]
        assert np.abs(got - expected).max() < 1e-5, (height, width)
        net.setInput(both.numpy())
        assert np.abs(net.forward() - expected).max() < 1e-5, (height, width)


def test_calibration_measures_the_typical_and_the_paper() -> None:
    contents = torch.stack([torch.full((3, 30, 30), v) for v in (0.2, 0.4, 0.6)])
    styled = torch.full_like(contents, 0.8)
    calibration = calibration_from(contents, styled, 9)
    assert calibration.typical[3][3] == pytest.approx(0.4, abs=1e-5)
    assert calibration.typical_out[0][0] == pytest.approx(0.8, abs=1e-5)
    assert calibration.paper == pytest.approx(0.8, abs=1e-5)


def test_calibration_record_round_trips_and_bad_records_are_refused() -> None:
    calibration = _calibration()
    assert ToneCalibration.from_record(calibration.record(), "model.json") == calibration
    assert ToneCalibration.from_record({"method": "older/0"}, "model.json") is None  # measured again
    record = calibration.record()
    with pytest.raises(StylizeError, match="model.json.*remake the style"):
        ToneCalibration.from_record({**record, "paper": 7.0}, "model.json")
    with pytest.raises(StylizeError, match="model.json"):
        ToneCalibration.from_record({**record, "typical": [[0.5]]}, "model.json")
    with pytest.raises(StylizeError, match="must hold"):
        ToneCalibration.from_record({**record, "extra": 1}, "model.json")
    with pytest.raises(StylizeError):
        ToneCalibration(typical=_flat(float("nan")), typical_out=_flat(0.5), paper=0.5)


def test_calibrate_runs_the_network_on_the_bundled_faces_once(monkeypatch: pytest.MonkeyPatch) -> None:
    network = PaperNet().eval()
    calls = []
    forward = network.forward
    monkeypatch.setattr(network, "forward", lambda x: calls.append(x.shape) or forward(x))
    first = calibrate(network)
    assert calls and calls[0][0] == len(tone.CALIBRATION_SEEDS)
    assert calibrate(network) is first and len(calls) == 1  # cached on the network
    assert 0.65 < first.typical_out[5][5] < 0.8 and 0.1 < first.typical[5][5] < 0.9
    other = PaperNet().eval()
    attach(other, _calibration())
    assert calibrate(other) == _calibration()  # a recorded calibration is used as it is


def test_stylize_batch_keeps_values_by_default_and_not_at_zero() -> None:
    network = PaperNet().eval()
    attach(network, _calibration(typical=0.5, typical_out=0.8, paper=0.9))
    dark, light = _grey(0.15, 40), _grey(0.55, 40)
    today = [stylize_batch(network, c, ApplySettings(keep_values=0.0)) for c in (dark, light)]
    kept = [stylize_batch(network, c, ApplySettings()) for c in (dark, light)]
    assert torch.equal(today[0], today[1])  # the style's one tone for both
    assert float(kept[0].mean()) < float(kept[1].mean()) - 0.2


def test_keep_values_is_a_checked_setting_recorded_in_the_manifest() -> None:
    with pytest.raises(StylizeError, match="keep_values"):
        ApplySettings(keep_values=1.5)
    assert ApplySettings().record()["keep_values"] == 1.0
    assert "keep_values" not in ApplySettings(keep_values=0.0).record()  # as before the setting existed


def test_the_row_blocked_op_is_the_whole_image_op() -> None:
    calibration = ToneCalibration(
        typical=tuple(tuple((i * j) / GRID**2 for j in range(GRID)) for i in range(GRID)),
        typical_out=_flat(0.7),
        paper=0.9,
    )
    generator = torch.Generator().manual_seed(2)
    for height, width in ((90, 61), (92, 64), (13, 9), (41, 16)):  # padded on the frame, or not
        content, styled = (torch.rand(1, 3, height, width, generator=generator) for _ in range(2))
        pad_h, pad_w = padding_for(height, width)
        framed = torch.rand(1, 3, height + pad_h, width + pad_w, generator=generator)  # a network's uncropped output
        for given in (styled, framed):
            whole = keep_values(content, given, 0.8, calibration, 9)
            blocked = keep_values_in_place(content, given.clone(), 0.8, calibration, 9, rows_per_step=7)
            assert blocked.shape == whole.shape == content.shape
            assert (blocked - whole).abs().max().item() < 1e-5, (height, width)


@pytest.mark.parametrize("size", [(36, 52), (61, 45), (13, 9), (1, 1), (285, 295)])
def test_apply_runs_the_op_on_the_frame_the_graph_sees(size) -> None:
    """keep_values pads as the graph's caller does and crops back: the graph's op (ValueKeeper) on the
    padded images, cropped, at any size; styled of the content's size is edge-padded, the network's
    uncropped output taken as it is; a frame that needs no padding is the op itself, bit for bit."""
    calibration = _ramp_calibration()
    generator = torch.Generator().manual_seed(4)
    height, width = size
    pad_h, pad_w = padding_for(height, width)
    content = torch.rand(1, 3, height, width, generator=generator)
    framed = torch.rand(1, 3, height + pad_h, width + pad_w, generator=generator)
    padded = F.pad(content, (0, pad_w, 0, pad_h), mode="replicate")
    keeper = ValueKeeper(calibration, 0.9, 9)
    graph = keeper(padded, framed)[..., :height, :width]
    assert torch.allclose(keep_values(content, framed, 0.9, calibration, 9), graph, atol=1e-5)
    cropped = framed[..., :height, :width]
    edge = keeper(padded, F.pad(cropped, (0, pad_w, 0, pad_h), mode="replicate"))[..., :height, :width]
    assert torch.allclose(keep_values(content, cropped, 0.9, calibration, 9), edge, atol=1e-5)
    # the frame itself (sides multiples of 4, at least 16) pads nothing: the op, bit for bit
    assert torch.equal(keep_values(padded, framed, 0.9, calibration, 9), value_op(padded, framed, 0.9, calibration, 9))
    with pytest.raises(ValueError, match="neither"):
        keep_values(content, torch.rand(1, 3, height + pad_h + 1, width), 0.9, calibration, 9)


def test_networks_of_one_identity_share_one_measurement(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tone, "_MEASURED", {})
    calls = []

    def counted() -> PaperNet:
        network = PaperNet().eval()
        forward = network.forward
        monkeypatch.setattr(network, "forward", lambda x: calls.append(x.shape) or forward(x))
        return network

    first, again, other, unnamed = counted(), counted(), counted(), counted()
    tone.identify(first, "paper")
    tone.identify(again, "paper")
    tone.identify(other, "other paper")
    measured = calibrate(first)
    assert calibrate(again) is measured and len(calls) == 1  # the same identity: not run again
    assert calibrate(other) == measured and len(calls) == 2  # another identity is measured (the same net here)
    assert calibrate(unnamed) == measured and len(calls) == 3  # so is a network without one
