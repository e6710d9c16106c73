"""OZG online services: the service catalogue and applications."""
