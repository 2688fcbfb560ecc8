"""Stage 2, training: loss terms, the perceptual objective, batches, checkpoints, and the runs that fit
a network (a style from references, the warm-start base, a distilled student)."""
