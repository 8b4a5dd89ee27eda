"""align: dataset metadata, distribution distances, GMM fit to real data, config selection."""
