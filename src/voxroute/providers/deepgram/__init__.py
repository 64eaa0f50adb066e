"""deepgram adapters (one module per modality)."""
