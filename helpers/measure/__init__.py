"""What runs measured: the GPU sampler, the bottleneck verdict, memory attribution, benchmark results, the claims ledger."""
