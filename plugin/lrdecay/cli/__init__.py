"""The `lrdecay` command: the application on top of the library.

`main` assembles the parser and dispatches to one module per command
(`search`, `preview`, `report`, `replay`), each of which declares its own
flags. They share `errors` (exit codes, `UsageError`), `arguments` (argument
types, common option groups) and `output` (how trials are printed); `search`
also uses `progress`, `dataset` / `data` (what it trains on, and loading it)
and `models`; `config` turns a config file into flags. No command imports
`main`, and nothing outside this package imports it.
"""
