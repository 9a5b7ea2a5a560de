"""naftiko: a runtime for declarative Naftiko capability files."""

__version__ = "0.1.0"
