"""Readers of the recorded results in benchmarks/results/: one reader per record format, apart from the live
instruments of helpers.measure. They import only helpers.core."""
