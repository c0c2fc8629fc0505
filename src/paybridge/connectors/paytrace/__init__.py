"""connectors/paytrace."""
