"""The Raspberry Pi board backend: gpiozero for the DAA, SLIC, relay and button, sounddevice for the codec."""
