"""Generated gRPC API code (see ``tetragon_core.api.tetragon``)."""
