"""Kept for DAG authors and scripts that import ``toolkit.cadence``: the cadence model lives in ``toolkit.core.cadence``."""

from toolkit.core.cadence import CadenceChange, CadenceModel, describe, detect_changes  # noqa: F401
