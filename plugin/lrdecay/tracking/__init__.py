"""MLflow tracking of a fit: what it records, how it is sent, how a run ends."""
