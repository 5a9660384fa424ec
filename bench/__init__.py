"""bench: the cellbench harness as a library, and the `cellbench` command line."""
