"""Abuse detection on the caller leg: log-mel front end, keyword-spotting model, VAD gate, calibration."""
