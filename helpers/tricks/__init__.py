"""Tricks for large-batch training, each a small module that patches or extends Ultralytics and can be tested alone."""
