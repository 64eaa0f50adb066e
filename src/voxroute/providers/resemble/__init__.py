"""resemble adapters (one module per modality)."""
