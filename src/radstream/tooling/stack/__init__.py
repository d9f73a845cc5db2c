"""Stack managers: start, inspect and stop a local target (the embedded emulator, LocalStack)."""
