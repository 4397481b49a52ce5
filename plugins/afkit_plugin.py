"""Drop-in for ``$AIRFLOW_HOME/plugins``: re-exports the afkit plugin class.

When afkit is also installed with pip, Airflow finds the same class through the ``airflow.plugins`` entry point and
loads it once (plugins are de-duplicated by name).
"""

from toolkit.plugin import AfkitPlugin

__all__ = ["AfkitPlugin"]
