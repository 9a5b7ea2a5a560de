"""Tests for naftiko_runtime.formats, one module per format module."""
