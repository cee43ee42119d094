"""The staff web app's pages, one module per group (web/app.py routes to them)."""
