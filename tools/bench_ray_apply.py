"""Images a second of ``stylize apply`` on the local engine and on Ray (``engine="ray"``), on this machine.

Each configuration stylizes N1 and then N2 portraits into fresh folders; the two wall times give its
fixed cost (start-up: Ray's instance, the actors' processes and their style loads) and its marginal
rate (t = fixed + N / rate), hence where the Ray engine starts to pay (the crossover)::

    python tools/bench_ray_apply.py --style pencil-nano --size 295x285 --counts 16,48
    python tools/bench_ray_apply.py --style pencil-nano --size 1024x1024 --counts 4,12

Configurations: ``local`` (one process, torch's default threads), ``local-1t`` (one thread), ``ray-cold`` (apply starts Ray
itself, as the command does without --address), ``ray AxC`` (A actors of C CPUs on a Ray instance
already running, as on a cluster). ``--repeat R`` runs the whole set R times, interleaved, and reports
the median times. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import stylize  # noqa: E402
from stylize.inference.bulk import apply  # noqa: E402


def make_inputs(folder: Path, count: int, size: tuple[int, int]) -> Path:
    faces = folder / "faces"
    stylize.compose(f"0-{count - 1}", faces, parts=REPO / "stylize/assets/facegen", progress=False)
    (faces / "manifest.jsonl").unlink()
    if size != (295, 285):
        for path in faces.glob("*.png"):
            Image.open(path).resize(size, Image.Resampling.BICUBIC).save(path, compress_level=1)
    return faces


def subset(faces: Path, count: int, folder: Path) -> Path:
    folder.mkdir(parents=True)
    for path in sorted(faces.glob("*.png"))[:count]:
        os.link(path, folder / path.name)
    return folder


def timed(style: str, inputs: Path, out: Path, **options) -> float:
    started = time.perf_counter()
    result = apply(style, [inputs], out, device="cpu", progress=False, **options)
    seconds = time.perf_counter() - started
    assert not result.failed and len(result.written) == len(list(inputs.glob("*.png"))), result.summary()
    return seconds


def run_config(config: str, style: str, inputs: Path, out: Path) -> float:
    if config == "local":
        return timed(style, inputs, out)
    if config == "local-1t":
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return timed(style, inputs, out)
        finally:
            torch.set_num_threads(threads)
    import ray

    if config == "ray-cold":
        if ray.is_initialized():  # the warm configurations' instance, from an earlier repeat
            ray.shutdown()
        return timed(style, inputs, out, engine="ray")

    actors, cpus = (int(v) for v in config.split()[1].split("x"))
    if not ray.is_initialized():
        ray.init(
            num_cpus=os.cpu_count(),
            include_dashboard=False,
            logging_level=logging.ERROR,
            runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}},
        )
    seconds = timed(style, inputs, out, engine="ray", actors=actors, actor_cpus=cpus)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--style", default="pencil-nano")
    parser.add_argument("--size", default="295x285")
    parser.add_argument("--counts", default="16,48")
    parser.add_argument("--configs", default="local,local-1t,ray-cold,ray 2x1,ray 1x2")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    n1, n2 = (int(v) for v in args.counts.split(","))
    work = Path(tempfile.mkdtemp(prefix="bench_ray_"))
    try:
        faces = make_inputs(work, n2, (width, height))
        sets = {n: subset(faces, n, work / f"in{n}") for n in (n1, n2)}
        configs = args.configs.split(",")
        runs: dict[tuple[str, int], list[float]] = {}
        for repeat in range(args.repeat):
            for config in configs:
                for n in (n1, n2):
                    out = work / f"out-{config.replace(' ', '_')}-{n}-{repeat}"
                    runs.setdefault((config, n), []).append(run_config(config, args.style, sets[n], out))
                print(config, {n: runs[config, n] for n in (n1, n2)}, f"load {os.getloadavg()[0]:.1f}", file=sys.stderr)
        rows = []
        for config in configs:
            times = {n: statistics.median(runs[config, n]) for n in (n1, n2)}
            rate = (n2 - n1) / (times[n2] - times[n1])
            fixed = times[n1] - n1 / rate
            rows.append((config, times[n1], times[n2], n2 / times[n2], rate, fixed))
        load = os.getloadavg()
        print(f"\n{args.style} at {width}x{height}, {os.cpu_count()} CPUs, load average {load[0]:.1f} at the end\n")
        print(
            f"| engine | {n1} images (s) | {n2} images (s) | images/s over {n2} | marginal images/s | fixed cost (s) |"
        )
        print("|---|---|---|---|---|---|")
        for config, t1, t2, overall, rate, fixed in rows:
            print(f"| {config} | {t1:.1f} | {t2:.1f} | {overall:.2f} | {rate:.2f} | {fixed:.1f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
