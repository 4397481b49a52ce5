"""Pure core: dataclasses in, dataclasses out; "now" is a parameter; no I/O, no Airflow, Slack, database or HTTP client (tests/unit/test_architecture.py enforces it)."""
