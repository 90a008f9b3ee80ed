"""Datasets: the synthetic generator, real datasets found and copied, the validator, deliberately broken sets, plots."""
