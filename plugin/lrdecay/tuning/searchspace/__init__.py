"""What a search tries: the decay kinds, their settings, the epoch budget.

Pure Python: nothing here imports Keras or KerasTuner at import time.

- `space`: `DecaySpace`, which kind and when it decays (from the kind table).
- `ranges`: `Range` and `Setting`, a fixed value, a grid or a range.
- `budget`: decay epochs as epochs or fractions, and how they meet the budget.
"""
