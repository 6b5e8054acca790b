"""Recording and evidence: sealed Opus recordings, hash chain, retention, audit log."""
