"""lineguard central receiver: stores every box's events and health, repairs gaps, serves a dashboard."""
