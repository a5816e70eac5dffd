"""Command-line entry points: ``tetragon`` (the agent) and ``tetra`` (the client)."""
