"""Ko-CARTR data platform: the Korean CAR T-Cell Registry's ingest, warehouse, analytics and releases."""

__version__ = "0.1.0"
