"""The market feed's queries: bars and each symbol's extent."""
