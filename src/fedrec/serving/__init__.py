"""Recommendations from a trained run (reads a run folder; never imports the experiment layer)."""
