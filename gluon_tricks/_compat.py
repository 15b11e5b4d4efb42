"""Make MXNet 1.9.1 importable under NumPy 1.24-1.26 (Python 3.12), which removed the aliases it uses.

This is the one place the aliases are restored; the package's ``__init__`` imports it before any
module imports ``mxnet``. On NumPy < 1.24 it changes nothing.
"""
import numpy as np

_REMOVED_ALIASES = {"bool": bool, "int": int, "float": float, "complex": complex,
                    "object": object, "str": str}

for _name, _type in _REMOVED_ALIASES.items():
    if _name not in np.__dict__:
        setattr(np, _name, _type)
