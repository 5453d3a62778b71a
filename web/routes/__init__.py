"""The console's pages and API, one module per audience."""
