namespace tandem { int storage_placeholder() { return 0; } }
