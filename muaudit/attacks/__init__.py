"""Recovery attacks on a model's weights (pure torch): can the forgotten data be brought back?

Run per model by the `attack` stages (tasks/attack.py); their results become rows of the metrics table
(muaudit/metrics/attacks.py), judged against the same attacks on the retrained models.
"""
