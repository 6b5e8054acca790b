"""Telephony signal processing: caller ID, DTMF, call progress, tone and FSK generation, G.711, levels."""
