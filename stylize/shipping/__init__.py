"""Shipping to the game: ONNX export, the C++ example, pre-stylized part sets (``stylize bench`` is
:mod:`stylize.bench`; a part set's gap to whole faces is :mod:`stylize.evaluation.part_set_gap`)."""
