"""Batch scoring over files: the per-instance runner and the step that merges their output."""
