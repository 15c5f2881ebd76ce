"""Domain operations. They own their transaction, raise domain errors and never read the request."""
