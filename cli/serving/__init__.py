"""Serving a trained model: deployments, and where they serve (this machine, or a RunPod pod)."""
