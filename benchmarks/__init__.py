"""Benchmarks of the EBR API (`make bench`); nothing here is imported by the product."""
