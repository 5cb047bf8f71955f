"""Tick benchmark: ms per customer per tick of the real tick decision (``opskeeper.scheduling.plan_tick``)."""
