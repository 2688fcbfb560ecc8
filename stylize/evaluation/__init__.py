"""Judging styles: scores, image quality, face detection, the optimisation ceiling, reports, previews
(stage 4) and contact-sheet grids."""
