"""The `lrdecay` command: the application on top of the library.

`main` parses and dispatches; each command has its own module (`search`,
`preview`, `report`); `data` and `config` load what the user points at.
Nothing outside this package imports it.
"""
