"""Load generation and end-to-end benchmarks of a deployed pipeline (`radstream upload`, `radstream bench`)."""
