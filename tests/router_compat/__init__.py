"""The side-by-side test against llama-server's router (make test-router-compat)."""
