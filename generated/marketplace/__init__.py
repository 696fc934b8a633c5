"""The marketplace's contracts: code generated from protos/ (the proto package `marketplace`)."""
