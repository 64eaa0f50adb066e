"""azure adapters (one module per modality)."""
