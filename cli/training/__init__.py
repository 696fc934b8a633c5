"""Training a project: runs, and where they train (this machine, or a RunPod pod)."""
