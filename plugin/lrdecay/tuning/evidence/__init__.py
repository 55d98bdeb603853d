"""What a search found, and how sure it is.

- `result`: `SearchResult`, `TrialSummary`, `TrialEvent`, the line to paste.
- `outcome`: the result's three groups: `Winner`, `Evidence`, `Cost`.
- `verdict`: the settings ranked with their spread, ties, the verdict.
- `labels`: what a trial is called (run names, tables).
- `table`: the ranking as text, as `print(result)` shows it.
- `failures`: trials that FAILED for a cause that is not the model's.
"""
