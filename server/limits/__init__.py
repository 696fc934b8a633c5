"""Rate-limit buckets several replicas share: GCRA in Redis (gcra.py), and the fall-back to this process's own
buckets while Redis does not answer (shared.py)."""
