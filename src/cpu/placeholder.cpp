namespace tandem { int cpu_placeholder() { return 0; } }
