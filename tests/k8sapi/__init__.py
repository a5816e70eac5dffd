"""A Kubernetes API server for the tests (no API server can be had here): see README.md."""
