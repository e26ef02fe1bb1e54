"""Output-level and representation-level metrics, the retrain band and the verdict."""
