"""Moving files between the marketplace and this machine: verified, resumable downloads with progress."""
