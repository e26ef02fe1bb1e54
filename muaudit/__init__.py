"""muaudit: audit machine unlearning against the retrain band, at the output and in the representations."""

__version__ = "0.1.0"
