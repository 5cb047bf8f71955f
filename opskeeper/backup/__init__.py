"""Backup repository: encrypted, deduplicated, self-describing; on a local directory or S3.

Layers (each only talks to the one below): ``store`` (ids and bytes), ``crypto``
(keys, authenticated envelopes), ``repo`` (packs, index, snapshots, locks),
and the operations ``backup``, ``restore``, ``verify``, ``prune`` on top.
The format is described in docs/backup-format.md.
"""
