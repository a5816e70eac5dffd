"""Tetragon's gRPC API (tetragon.FineGuidanceSensors), served with grpclib."""
