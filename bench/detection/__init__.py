"""Detection-quality backtesting: replay labelled scenarios through the real rules with the real PromQL engine."""
