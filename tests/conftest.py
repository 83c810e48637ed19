"""Shared test settings: a headless matplotlib, and small-model-friendly threading."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
