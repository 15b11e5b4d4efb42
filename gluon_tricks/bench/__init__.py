"""Side-by-side throughput benchmarks; their results are in benchmarks/README.md."""
