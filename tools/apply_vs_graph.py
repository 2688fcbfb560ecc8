"""How far the exported ONNX graph (with the value op, ``keep_values`` 1) is from ``stylize apply``: per image,
the largest and mean |difference| in 8-bit levels over the whole image, the edges the graph pads included.

Images: the 16 faces of the bundled sample tree (seeds 0-15, 295x285: the graph pads them to 296x288),
face 7 cropped to 292x284 (nothing padded) and three small gradients (61x45, 50x40, 13x9). Runtimes:
ONNX Runtime on the file as exported, and opencv-python's DNN module on a copy declared at each image's
padded size (its importer refuses the dynamic one; Debian's OpenCV 4.6 is the C++ example's:
``tests/shipping/test_cpp_example.py``).

Usage (from the repository root; about a minute a style on two cores)::

    python tools/apply_vs_graph.py [STYLE ...]      # default: pencil-nano paint
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
try:
    import stylize  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))


def _gradient(width: int, height: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), (x * 3 + y) % 256], axis=-1)
    return np.clip(base + rng.integers(-25, 25, base.shape), 0, 255).astype(np.uint8)


def main(argv: list[str]) -> int:
    import cv2
    import numpy as np
    import torch

    from stylize.content.compose import iter_faces
    from stylize.inference.image import ApplySettings, stylize_rgb, to_uint8
    from stylize.inference.styles import load_style
    from stylize.shipping.onnx_export import onnx_graph, ort_session, pad_for_graph, run_session, with_fixed_shape

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("styles", nargs="*", default=["pencil-nano", "paint"])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    faces = {f"face{index}": face.rgb for index, face in enumerate(iter_faces("0-15", ROOT / "stylize/assets/facegen"))}
    images = {**faces, "face7_292x284": faces["face7"][:284, :292]}
    images.update(grad_61x45=_gradient(61, 45, 3), grad_50x40=_gradient(50, 40, 5), grad_13x9=_gradient(13, 9, 4))
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "fixed.onnx"
        for style in args.styles:
            network = load_style(style).network.eval()
            data = onnx_graph(network, keep_values=1.0).SerializeToString()
            session = ort_session(data)
            worst: dict[str, list[float]] = {"ort": [0, 0.0], "cv2": [0, 0.0]}
            for name, rgb in images.items():
                height, width = rgb.shape[:2]
                apply = stylize_rgb(network, rgb, settings=ApplySettings(keep_values=1.0)).astype(int)
                blob = pad_for_graph(rgb)
                path.write_bytes(with_fixed_shape(data, *blob.shape[2:]))
                net = cv2.dnn.readNetFromONNX(str(path))
                net.setInput(blob)
                outputs = {
                    "ort": run_session(session, rgb),
                    "cv2": to_uint8(torch.from_numpy(net.forward()[:, :, :height, :width].copy())),
                }
                line = [f"{style:12} {name:14} {width}x{height}"]
                for runtime, output in outputs.items():
                    diff = np.abs(output.astype(int) - apply)
                    line.append(f"{runtime} max {diff.max()} mean {diff.mean():.5f}")
                    if name in faces:
                        worst[runtime] = [max(worst[runtime][0], int(diff.max())), worst[runtime][1] + diff.mean() / 16]
                print(" | ".join(line), flush=True)
            for runtime, (most, mean) in worst.items():
                print(f"{style}: 16 faces, {runtime}: max {most} levels, mean {mean:.5f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
