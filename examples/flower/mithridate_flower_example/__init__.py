"""A Flower federation on MNIST with malicious clients and Mithridate's strategy."""
