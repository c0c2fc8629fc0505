"""connectors/dynamics."""
