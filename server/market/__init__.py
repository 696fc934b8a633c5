"""MarketService: the market feed (bars per symbol), its storage and the in-process notification of new bars."""
