"""What runs measure, live: the GPU sampler, the bottleneck verdict, memory attribution, the epoch wall clock,
the gradient norm, evaluation, and the fresh-process runner. Readers of recorded results are helpers.records."""
