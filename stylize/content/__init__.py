"""Stage 1, content: the game's part tree, its RNG, part picking and compositing, seeds, and folders of
legacy portraits. Pure image work: nothing here knows of networks."""
