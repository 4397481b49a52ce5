"""Drop-in for ``$AIRFLOW_HOME/plugins``: exposes the afkit plugin class to Airflow's plugin-folder loader.

Use it where afkit's ``toolkit`` package is importable but not pip-installed (for example copied next to this file, or
on ``PYTHONPATH``). When afkit *is* pip-installed, Airflow already loads the plugin through the ``airflow.plugins``
entry point; exposing the class here as well would make Airflow report a duplicate-plugin import error, so this module
then stays empty.
"""

from importlib.metadata import entry_points

if not any(ep.name == "afkit" for ep in entry_points(group="airflow.plugins")):
    from toolkit.plugin import AfkitPlugin

    __all__ = ["AfkitPlugin"]
