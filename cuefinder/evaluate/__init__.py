"""Judging models: cross-validation against baselines, metrics, calibration, reports, cards."""
