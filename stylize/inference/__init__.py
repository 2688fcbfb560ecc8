"""Stage 3, stylizing: model files, finding styles, one image through a network, bulk apply."""
