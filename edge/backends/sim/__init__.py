"""The simulated backend: a scripted wall line, desk phone, relays and LED in virtual time."""
