"""Readers of the recorded results in benchmarks/results/: one reader per record format (results, evidence,
realtrain, modelchoice, ledger, sweep_record, timetoacc), apart from the live instruments of helpers.measure."""
