"""Reusable test helpers: a programmable local HTTP server and a real S3 API server (SeaweedFS)."""
