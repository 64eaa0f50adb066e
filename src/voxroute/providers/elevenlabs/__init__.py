"""elevenlabs adapters (one module per modality)."""
