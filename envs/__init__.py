"""humimic.envs (see design.md)."""
