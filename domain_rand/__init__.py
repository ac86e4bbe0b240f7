"""humimic.domain_rand (see design.md)."""
