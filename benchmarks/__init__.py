"""Speed and memory benchmarks (never timed tests): see benchmarks/README.md. Run from the repository root as
`python -m benchmarks.<script>`."""
