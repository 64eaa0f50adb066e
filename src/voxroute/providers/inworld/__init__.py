"""inworld adapters (one module per modality)."""
