"""The harness that boots a real Airflow 3.3 for ``afkit demo`` and the test suite (shipped: the demo uses it)."""
