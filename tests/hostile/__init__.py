"""The hostile-input corpus (issue 16): see harness.py; the cases are in the area modules."""
