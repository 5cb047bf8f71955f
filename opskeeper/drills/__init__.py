"""Disaster-recovery drills: scenarios, timeline, RTO/RPO measurement, evaluation, action items.

Pure core (no Prefect): ``scenarios`` loads and validates scenario files,
``timeline`` records what happened when,
``evaluate`` measures RTO/RPO against the contract and gives the verdict,
``items`` turns findings into action items, ``freshness`` flags overdue drills,
``runner`` runs a drill phase by phase through the runbook engine (one ``Step``
model; ``runbook.expect`` judges probe values).
"""

# The drill step actions register themselves in the runbook's action registry: importing any part of
# the drills area makes them known to the engine, scenarios and validate.
from opskeeper.drills import actions as actions
