"""Work behind `mp admin market`: replaying price histories into the market feed."""
