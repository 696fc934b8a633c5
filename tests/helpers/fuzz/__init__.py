"""The fuzz suite's model of the contract: the RPCs and how to call them, request strategies, the world they run in."""
