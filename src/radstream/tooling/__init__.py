"""Laptop tooling: the `radstream` command line and what it drives (client, runner, samples,
end-to-end checks, benchmarks, analytics queries, the stack manager). Never deployed."""
