"""Telemetry and remote management over MQTT: durable outbox, client, command handling."""
