"""Benchmark harness: serve the app and a bare floor app, load them, compare server CPU per request."""
