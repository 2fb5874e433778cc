"""The `v2v` command line: one entry point, one module per subcommand group (imported lazily)."""
