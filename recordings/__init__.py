"""What the node keeps for the record: the audit log (and, later, media recordings)."""
