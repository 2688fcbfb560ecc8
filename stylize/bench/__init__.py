"""``stylize bench``: the benches, one module each, timing the stages as a user runs them.

- :mod:`~stylize.bench.runtimes` (``stylize bench runtimes``): every network per runtime on one thread,
  per thread count, bulk apply throughput, kill and resume;
- :mod:`~stylize.bench.zero` (``stylize bench zero REF...``): the zero-training styles: make, portrait,
  preview, and the face judge's figures;
- :mod:`~stylize.bench.studio` (``stylize bench studio REF...``): the studio over HTTP;
- :mod:`~stylize.bench.device` (``stylize bench device``): the GPU path beside the CPU;
- :mod:`~stylize.bench.big` (``stylize bench big SIDE``): a big portrait against a game portrait.

:mod:`~stylize.bench.timing` holds what they share (the sizes, the baseline network, timing a call).
Each module defines its defaults as constants that its functions and its command's options
(:mod:`stylize.cli.bench`) both use, and imports torch only inside its functions, so the command
line starts without it. A new bench is a module here and one beside it in ``stylize/cli/bench/``.
The benches sit above the stages (shipping's exports, evaluation's judge; the studio is started as a
process); nothing but the command line imports them.
"""
