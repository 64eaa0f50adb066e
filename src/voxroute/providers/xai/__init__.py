"""xai adapters (one module per modality)."""
