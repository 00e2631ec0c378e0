"""Training: the feature cache, splits, the one training loop, networks and musicnn heads."""
