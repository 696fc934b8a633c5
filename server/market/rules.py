"""The market feed's rules: what makes a bar acceptable, and when a bar may follow the stored ones."""
