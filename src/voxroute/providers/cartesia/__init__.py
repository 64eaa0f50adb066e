"""cartesia adapters (one module per modality)."""
