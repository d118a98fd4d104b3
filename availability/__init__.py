"""Representative availability for Dynamics 365 Contact Center, served as Azure Functions."""

__version__ = "0.1.0"
