"""The plateau rule's row of the kind table.

The plateau rule has no schedule (`lrdecay.callbacks.PlateauDecay` reacts to
a metric); its row of the kind table lives here with the others.
"""

from __future__ import annotations

from lrdecay.kinds import Extra, KindSpec, register_kind

PLATEAU = register_kind(
    KindSpec(
        name="plateau",
        decay_arg="patience",
        extras=(Extra("factor", 0, 1),),
        plateau=True,
        preview=False,
        default=True,
    )
)
