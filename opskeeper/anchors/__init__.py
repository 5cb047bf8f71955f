"""Audit anchors: the audit head written outside the ledger, so a consistent rewrite is caught.

The hash chain (``opskeeper.ledger.audit``) catches an edited, deleted or truncated row, but someone
who can write the database can recompute the whole chain. An anchor is a small JSON object holding
the head's sequence number and hash, written to a backup target (under ``anchors/``, with S3 Object
Lock where the target has it) or, without one, to ``$OPSKEEPER_HOME/anchors``. ``audit verify``
checks the chain against every anchor it can read.

record.py  the anchor format and object names
identity.py  the ledger's identity (kept in the audit chain itself)
places.py  where anchors go (the estate's targets, or the local fallback)
write.py  writing one now, or when due (the tick)
check.py  checking the ledger against the anchors
"""
