"""Failures: real reproductions and the doctor that turns an error into a finding."""
