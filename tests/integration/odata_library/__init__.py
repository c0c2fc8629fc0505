"""A standard OData v4 client library from PyPI (python-odata) against the D365 sandbox."""
