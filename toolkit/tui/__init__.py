"""``afkit tui``: the terminal app. It renders and dispatches; every decision comes from the same core as the CLI."""
