"""Generators of the bundled assets (sample part tree, references, bundled styles); not part of the package."""
