"""openai adapters (one module per modality)."""
