namespace tandem::api { int placeholder() { return 0; } }
