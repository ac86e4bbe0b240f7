"""humimic.retarget (see design.md)."""
