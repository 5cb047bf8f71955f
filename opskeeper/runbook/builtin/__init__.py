"""The runbook's built-in step actions. Importing this package registers them (``@register`` in each module).

A new action goes in a module here, imported below, with its ``ActionParams``; actions of a higher
area (the drills' faults and restores) live in that area and register when its package is imported.
"""

from opskeeper.runbook.builtin import deep, monthly

__all__ = ["deep", "monthly"]
