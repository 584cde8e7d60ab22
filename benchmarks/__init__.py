"""artgen's benchmark suite: runners that write their rows to benchmarks/results/ (see benchmarks/README.md)."""
