"""A clock the test moves by hand (caches, leases and expiries take a clock)."""


class ManualClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
