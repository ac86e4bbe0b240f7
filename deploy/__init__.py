"""humimic.deploy (see design.md)."""
