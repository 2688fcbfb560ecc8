"""Judging styles: scores, image quality, face detection, the optimisation ceiling, reports, previews
and contact-sheet grids; and a part set against whole faces (:mod:`~stylize.evaluation.part_set_gap`)."""
