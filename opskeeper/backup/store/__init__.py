"""Stores: the lowest layer, ids and bytes only. See ``interface.py``."""
