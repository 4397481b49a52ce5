"""afkit: operations toolkit for Apache Airflow 3.

The package is layered: a pure core (no I/O), two boundaries (``toolkit.airflow`` for the REST API,
``toolkit.slack`` for Slack) and thin edges (``toolkit.cli``, ``toolkit.tui``, ``toolkit.plugin``).
"""

# The one version: the package metadata reads it (pyproject.toml, dynamic), `afkit --version` and the plugin's API
# print it. Bump it with a CHANGELOG.md entry.
__version__ = "0.1.0"
