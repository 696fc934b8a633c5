"""The marketplace's contracts: code generated from protos/ (the proto package `marketplace`), installed as `mlmp_marketplace`."""
