"""lineguard: the edge appliance that guards a community center's phone line."""

__version__ = "0.1.0"
