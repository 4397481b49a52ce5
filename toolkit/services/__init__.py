"""Services: fetch through the boundaries, decide with the core, act — the one place every edge (CLI, terminal app, plugin, afkit watch) goes through for the same action."""
